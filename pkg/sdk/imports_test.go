package sdk

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRule keeps the SDK small and safe to embed in any service: besides the standard
// library it may only depend on the wire types, the client, the JWT library and the file writer. A CLI, keyring
// or database package sneaking in would fail here.
func TestImportRule(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{
		"github.com/ooctl/oo/pkg/sdk":    true,
		"github.com/ooctl/oo/pkg/api":    true,
		"github.com/ooctl/oo/pkg/client": true,
		"github.com/golang-jwt/jwt/v5":   true,
		// The repository's one private-file writer, standard library only.
		"github.com/ooctl/oo/internal/atomicfile": true,
	}
	n := 0
	for _, p := range strings.Fields(string(out)) {
		n++
		if !allowed[p] {
			t.Errorf("pkg/sdk depends on %s; it may import only the standard library, pkg/api, pkg/client, internal/atomicfile and golang-jwt", p)
		}
	}
	if n < 3 {
		t.Fatalf("go list found only %d non-standard packages (%q); the check itself is broken", n, out)
	}
}
