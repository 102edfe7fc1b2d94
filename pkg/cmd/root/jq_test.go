package root_test

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmd/root"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

func TestJQFiltersJSONOutput(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "")
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "add", "rev", "http://127.0.0.1:9"), "env add")
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "ls", "--jq", ".environments[].name"), "env ls --jq")
	if r.Out != "local\nrev\n" {
		t.Fatalf("--jq names: %q", r.Out)
	}
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "ls", "-o", "json", "--jq", "[.environments[] | select(.name == \"rev\") | .url]"), "env ls -o json --jq")
	if r.Out != "[\n  \"http://127.0.0.1:9\"\n]\n" {
		t.Fatalf("--jq array: %q", r.Out)
	}
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "env", "ls", "--jq", ".["), cmdutil.ExitUsage, `oo: --jq ".[": `)
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "env", "ls", "-o", "table", "--jq", "."), cmdutil.ExitUsage, "cannot be combined with -o table")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "env", "ls", "--jq", `error("boom")`), cmdutil.ExitError, "boom")
}

// Every command with -o json also has --jq.
func TestEveryJSONCommandHasJQ(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	n := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Flags().Lookup("output") != nil {
			n++
			if c.Flags().Lookup("jq") == nil {
				t.Errorf("%s has -o but no --jq", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root.NewCmd(ios))
	if n < 5 {
		t.Fatalf("only %d commands with -o", n)
	}
}
