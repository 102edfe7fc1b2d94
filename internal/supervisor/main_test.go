package supervisor

import (
	"os"
	"testing"

	"github.com/ooctl/oo/internal/proctest"
)

// TestMain fails the run if a process a test started (and its leftovers) outlives the tests.
func TestMain(m *testing.M) { os.Exit(proctest.Main(m.Run)) }
