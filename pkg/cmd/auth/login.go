package auth

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

// LoginOptions is what `oo login` needs.
type LoginOptions struct {
	cmdutil.Deps
	slug          string
	passwordStdin bool
	insecure      bool
}

// NewCmdLogin returns `oo login`; runF, when set, runs instead of loginRun (tests).
func NewCmdLogin(f *cmdutil.Factory, runF func(*LoginOptions) error) *cobra.Command {
	o := &LoginOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "login [SLUG]",
		Short: "Log in to the current environment and keep the token in the OS keyring",
		Long: `Log in with a slug and password and store the token in the OS keyring (one entry per
environment and slug). Missing values are asked for on a terminal; the password is never echoed
and never accepted as an argument: scripts pipe it with --password-stdin.

Several accounts can be logged in to one environment: each login adds one and selects it.
Switch between them with "oo user switch SLUG", log one out with "oo logout SLUG".

Without a usable keyring login stops and explains how to get one; --insecure-storage keeps the
token in a plain-text file (mode 0600) under $XDG_CONFIG_HOME/oo/ instead.`,
		Example: `  oo login admin
  echo "$PASSWORD" | oo login ci-bot --password-stdin
  oo login admin -e staging
  oo login admin --insecure-storage   # a box without a keyring`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.slug = args[0]
			}
			o.Ctx = cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return loginRun(o)
		},
	}
	cmd.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	cmd.Flags().BoolVar(&o.insecure, "insecure-storage", false, "store the token in a plain-text 0600 file instead of the OS keyring (or set OO_INSECURE_STORAGE=1)")
	return cmd
}

func loginRun(o *LoginOptions) error {
	s, err := o.Target()
	if err != nil {
		return err
	}
	if err := checkStoreTarget(s); err != nil {
		return err
	}
	slug, err := askSlug(&o.Deps, o.slug, !o.passwordStdin)
	if err != nil {
		return err
	}
	pw, err := readPassword(&o.Deps, o.passwordStdin, fmt.Sprintf("Password for %s on %s: ", slug, s.URL))
	if err != nil {
		return err
	}
	tok, err := o.Client(s).Login(o.Ctx, slug, pw)
	if err != nil {
		return loginError(s, slug, err)
	}
	where, err := saveToken(o.Ctx, &o.Deps, s, slug, tok.Token, o.insecure)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "Logged in to %s (%s) as %s; token stored in the %s\n", s.Env, s.URL, slug, where)
	return nil
}
