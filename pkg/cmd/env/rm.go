package env

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// RmOptions is what `oo env rm` needs.
type RmOptions struct {
	cmdutil.Deps
	Name string
}

// NewCmdRm returns `oo env rm`; runF, when set, runs instead of rmRun (tests).
func NewCmdRm(f *cmdutil.Factory, runF func(*RmOptions) error) *cobra.Command {
	o := &RmOptions{Deps: f.Deps()}
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Remove an environment and the tokens stored for it",
		Long: `Remove an environment from the config and delete the tokens of its accounts from the
credential store. Tokens are not revoked on the server; run "oo logout -e NAME" first for that.
The built-in "local" environment cannot be removed.`,
		Example: `  oo env rm staging`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.Ctx = args[0], cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return rmRun(o)
		},
	}
}

func rmRun(o *RmOptions) error {
	name := o.Name
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	if name == config.DefaultEnv {
		return cmdutil.Usagef("the %s environment is built in; change its URL with `oo env add %s URL --force`", name, name)
	}
	e, err := cfg.Env(name)
	if err != nil {
		return err // an unknown env name is a usage error everywhere (cmdutil.ExitCode)
	}
	for _, slug := range e.Slugs() {
		// A token the store already lost is fine: the goal is that none is left.
		if err := o.Store(e.Accounts[slug].Storage).Delete(name, slug); err != nil && !isNotFound(err) {
			fmt.Fprintf(o.IO.ErrOut, "oo: could not delete the token of %s: %v\n", slug, err)
		}
	}
	delete(cfg.Environments, name)
	if cfg.Current == name {
		cfg.Current = config.DefaultEnv
	}
	if err := cfg.Save(); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "Removed environment %s; current is %s\n", name, cfg.Current)
	return nil
}
