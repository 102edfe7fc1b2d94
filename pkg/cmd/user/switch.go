package user

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

// SwitchOptions is what `oo user switch` needs.
type SwitchOptions struct {
	cmdutil.Deps
	Slug string // empty: list the logged-in accounts
}

// NewCmdSwitch returns `oo user switch`; runF, when set, runs instead of switchRun (tests).
func NewCmdSwitch(f *cmdutil.Factory, runF func(*SwitchOptions) error) *cobra.Command {
	o := &SwitchOptions{Deps: f.Deps()}
	return &cobra.Command{
		Use:   "switch [SLUG]",
		Short: "Select another account already logged in to this environment",
		Long: `Several accounts can be logged in to one environment ("oo login" adds one each time).
"oo user switch SLUG" selects one of them for later commands, without a password. Without
SLUG it lists them; * marks the selected one.`,
		Example: `  oo login alice && oo login bob   # bob is now selected
  oo user switch alice
  oo user switch                   # list`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if len(args) == 1 {
				o.Slug = args[0]
			}
			if runF != nil {
				return runF(o)
			}
			return switchRun(o)
		},
	}
}

func switchRun(o *SwitchOptions) error {
	s, err := o.Target()
	if err != nil {
		return err
	}
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	e := cfg.Environments[s.Env]
	if o.Slug == "" {
		for _, slug := range e.Slugs() {
			mark := " "
			if slug == e.User {
				mark = "*"
			}
			fmt.Fprintf(o.IO.Out, "%s %s\n", mark, slug)
		}
		return nil
	}
	slug := o.Slug
	if !cfg.HasAccount(s.Env, slug) {
		known := strings.Join(e.Slugs(), ", ")
		if known == "" {
			known = "none"
		}
		return cmdutil.WithCode(cmdutil.ExitAuth, fmt.Errorf("%s is not logged in to env %s (logged in: %s): run `oo login %s`", slug, s.Env, known, slug))
	}
	e.User = slug
	if err := cfg.Save(); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "Now using %s on %s\n", slug, s.Env)
	return nil
}
