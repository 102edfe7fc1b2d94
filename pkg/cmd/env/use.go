package env

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

// UseOptions is what `oo env use` needs.
type UseOptions struct {
	cmdutil.Deps
	Name string
}

// NewCmdUse returns `oo env use`; runF, when set, runs instead of useRun (tests).
func NewCmdUse(f *cmdutil.Factory, runF func(*UseOptions) error) *cobra.Command {
	o := &UseOptions{Deps: f.Deps()}
	return &cobra.Command{
		Use:     "use NAME",
		Aliases: []string{"switch"},
		Short:   "Make NAME the current environment",
		Example: `  oo env use staging
  oo env use local`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.Ctx = args[0], cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return useRun(o)
		},
	}
}

func useRun(o *UseOptions) error {
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	e, err := cfg.Env(o.Name)
	if err != nil {
		return cmdutil.Usage(err)
	}
	cfg.Current = o.Name
	if err := cfg.Save(); err != nil {
		return err
	}
	who := "not logged in"
	if e.User != "" {
		who = "as " + e.User
	}
	fmt.Fprintf(o.IO.ErrOut, "Now using environment %s (%s, %s)\n", o.Name, e.URL, who)
	return nil
}
