package cmdtest

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmd/root"
	"github.com/ooctl/oo/pkg/iostreams"
)

// Every command teaches by example in --help: the root, the groups and every leaf.
func TestEveryCommandHasExamples(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	h := New(t, "")
	tree := root.NewCmdFactory(h.Factory(ios))
	seen := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" {
			return
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no Examples in --help", c.CommandPath())
		}
		seen++
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(tree)
	if seen < 30 {
		t.Fatalf("walked only %d commands", seen)
	}
}
