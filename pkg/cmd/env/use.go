package env

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

func newUseCmd(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "use NAME",
		Aliases: []string{"switch"},
		Short:   "Make NAME the current environment",
		Example: `  oo env use staging
  oo env use local`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.Config()
			if err != nil {
				return err
			}
			e, err := cfg.Env(args[0])
			if err != nil {
				return &cmdutil.UsageError{Err: err}
			}
			cfg.Current = args[0]
			if err := cfg.Save(); err != nil {
				return err
			}
			who := "not logged in"
			if e.User != "" {
				who = "as " + e.User
			}
			fmt.Fprintf(f.IOStreams.ErrOut, "Now using environment %s (%s, %s)\n", args[0], e.URL, who)
			return nil
		},
	}
}
