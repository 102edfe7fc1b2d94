package env

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/credstore"
	"github.com/ooctl/oo/pkg/cmdutil"
)

func isNotFound(err error) bool { return errors.Is(err, credstore.ErrNotFound) }

type currentOptions struct {
	f      *cmdutil.Factory
	output string
}

func newCurrentCmd(f *cmdutil.Factory) *cobra.Command {
	o := &currentOptions{f: f}
	cmd := &cobra.Command{
		Use:   "current",
		Short: "Print the environment in use (after -e, OO_ENV and OO_URL)",
		Example: `  oo env current
  OO_URL=http://127.0.0.1:9000 oo env current -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cmdutil.CheckOutput(o.output); err != nil {
				return err
			}
			s, err := f.Target()
			if err != nil {
				return err
			}
			if cmdutil.WantJSON(o.output) {
				return cmdutil.PrintJSON(f.IOStreams.Out, map[string]string{"name": s.Env, "url": s.URL, "urlFrom": s.URLFrom, "user": s.Slug})
			}
			if !f.IOStreams.IsStdoutTTY() {
				// Scripts get the bare name, like `kubectl config current-context`.
				_, err := fmt.Fprintln(f.IOStreams.Out, s.Env)
				return err
			}
			who := "not logged in"
			if s.Slug != "" {
				who = "as " + s.Slug
			}
			_, err = fmt.Fprintf(f.IOStreams.Out, "%s  %s (from %s)  %s\n", s.Env, s.URL, s.URLFrom, who)
			return err
		},
	}
	cmdutil.AddOutputFlag(cmd, &o.output)
	return cmd
}
