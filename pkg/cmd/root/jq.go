package root

import (
	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

// addJQFlags gives every command that has -o json a --jq EXPRESSION flag, as gh does. It is added
// here, once for the tree, so no command carries its own copy: the command runs as with -o json
// while its stdout goes through the filter.
func addJQFlags(c *cobra.Command, ios *iostreams.IOStreams) {
	for _, sub := range c.Commands() {
		addJQFlags(sub, ios)
	}
	if c.Flags().Lookup("output") == nil || c.RunE == nil {
		return
	}
	var expr string
	c.Flags().StringVar(&expr, "jq", "", "filter the JSON output with a jq `EXPRESSION` (implies -o json; strings are printed raw)")
	run := c.RunE
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if expr == "" {
			return run(cmd, args)
		}
		if o := cmd.Flags().Lookup("output"); o.Changed && o.Value.String() != "json" {
			return cmdutil.Usagef("--jq filters JSON: it cannot be combined with -o %s", o.Value.String())
		}
		if err := cmd.Flags().Set("output", "json"); err != nil {
			return err
		}
		w, err := cmdutil.NewJQWriter(expr, ios.Out)
		if err != nil {
			return err
		}
		out := ios.Out
		ios.Out = w
		err = run(cmd, args)
		ios.Out = out
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		return err
	}
}
