package cmdtest

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmd/root"
	"github.com/ooctl/oo/pkg/iostreams"
)

// The client's commands each teach by example in --help.
func TestClientCommandsHaveExamples(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	h := New(t, "")
	tree := root.NewCmdFactory(h.Factory(ios))
	ours := map[string]bool{"env": true, "login": true, "register": true, "logout": true, "whoami": true,
		"token": true, "passwd": true, "user": true, "instance": true, "call": true}
	seen := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no Examples in --help", c.CommandPath())
		}
		seen++
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	for _, c := range tree.Commands() {
		if ours[c.Name()] {
			walk(c)
		}
	}
	if seen < 20 {
		t.Fatalf("walked only %d commands", seen)
	}
}
