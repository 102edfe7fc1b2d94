package user

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

func newSwitchCmd(f *cmdutil.Factory) *cobra.Command {
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
			s, err := f.Target()
			if err != nil {
				return err
			}
			cfg, err := f.Config()
			if err != nil {
				return err
			}
			e := cfg.Environments[s.Env]
			if len(args) == 0 {
				for _, slug := range e.Slugs() {
					mark := " "
					if slug == e.User {
						mark = "*"
					}
					fmt.Fprintf(f.IOStreams.Out, "%s %s\n", mark, slug)
				}
				return nil
			}
			slug := args[0]
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
			fmt.Fprintf(f.IOStreams.ErrOut, "Now using %s on %s\n", slug, s.Env)
			return nil
		},
	}
}
