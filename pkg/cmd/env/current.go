package env

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/credstore"
	"github.com/ooctl/oo/pkg/cmdutil"
)

func isNotFound(err error) bool { return errors.Is(err, credstore.ErrNotFound) }

// CurrentOptions is what `oo env current` needs.
type CurrentOptions struct {
	cmdutil.Deps
	Output string
}

// NewCmdCurrent returns `oo env current`; runF, when set, runs instead of currentRun (tests).
func NewCmdCurrent(f *cmdutil.Factory, runF func(*CurrentOptions) error) *cobra.Command {
	o := &CurrentOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "current",
		Short: "Print the environment in use (after -e, OO_ENV and OO_URL)",
		Example: `  oo env current
  OO_URL=http://127.0.0.1:9000 oo env current -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return currentRun(o)
		},
	}
	cmdutil.AddOutputFlag(cmd, &o.Output)
	return cmd
}

func currentRun(o *CurrentOptions) error {
	if err := cmdutil.CheckOutput(o.Output); err != nil {
		return err
	}
	s, err := o.Target()
	if err != nil {
		return err
	}
	if cmdutil.WantJSON(o.Output) {
		return cmdutil.PrintJSON(o.IO.Out, map[string]string{"name": s.Env, "url": s.URL, "urlFrom": s.URLFrom, "user": s.Slug})
	}
	if !o.IO.IsStdoutTTY() {
		// Scripts get the bare name, like `kubectl config current-context`.
		_, err := fmt.Fprintln(o.IO.Out, s.Env)
		return err
	}
	who := "not logged in"
	if s.Slug != "" {
		who = "as " + s.Slug
	}
	_, err = fmt.Fprintf(o.IO.Out, "%s  %s (from %s)  %s\n", s.Env, s.URL, s.URLFrom, who)
	return err
}
