package auth

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// PasswdOptions is what `oo passwd` needs.
type PasswdOptions struct {
	cmdutil.Deps
	passwordStdin bool
}

// NewCmdPasswd returns `oo passwd`; runF, when set, runs instead of passwdRun (tests).
func NewCmdPasswd(f *cmdutil.Factory, runF func(*PasswdOptions) error) *cobra.Command {
	o := &PasswdOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Change the selected account's password",
		Long: `Change the password of the selected account. The server revokes the account's other
tokens; oo logs in again with the new password and stores the fresh token.
With --password-stdin, stdin holds two lines: the current password, then the new one.`,
		Example: `  oo passwd
  printf '%s\n%s\n' "$OLD" "$NEW" | oo passwd --password-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return passwdRun(o)
		},
	}
	cmd.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "read the current and the new password from two lines of stdin")
	return cmd
}

func passwdRun(o *PasswdOptions) error {
	t, err := o.Target()
	if err != nil {
		return err
	}
	if err := checkStoreTarget(t); err != nil {
		return err
	}
	s, err := o.Session(true)
	if err != nil {
		return err
	}
	if s.FromEnvVar {
		return cmdutil.Usagef("passwd changes a stored account's password; unset OO_TOKEN first")
	}
	cur, err := readPassword(&o.Deps, o.passwordStdin, "Current password: ")
	if err != nil {
		return err
	}
	next, err := newPassword(&o.Deps, o.passwordStdin, "New password: ")
	if errors.Is(err, errNoStdinPassword) {
		return cmdutil.Usagef("--password-stdin: the second line of stdin (the new password) is missing")
	}
	if err != nil {
		return err
	}
	c := o.Client(s)
	// Check the token first: afterwards a 401 can only mean a wrong current password.
	if _, err := c.Whoami(o.Ctx); err != nil {
		return err
	}
	if err := c.ChangePassword(o.Ctx, cur, next); err != nil {
		if code := cmdutil.ExitCode(err); code == cmdutil.ExitAuth || code == cmdutil.ExitUsage || code == cmdutil.ExitError {
			return cmdutil.WithCode(code, fmt.Errorf("password of %s not changed: %s", s.Slug, err.Error()))
		}
		return err
	}
	tok, err := c.Login(o.Ctx, s.Slug, next)
	if err != nil {
		return fmt.Errorf("password changed, but logging in with it failed: %w (run `oo login %s`)", err, s.Slug)
	}
	storage := s.Storage
	if storage == "" {
		storage = config.StorageKeyring
	}
	if _, err := saveToken(o.Ctx, &o.Deps, s, s.Slug, tok.Token, storage == config.StorageFile); err != nil {
		return err
	}
	// The old token may have survived the change; it is no longer stored, so retire it.
	_ = c.RevokeToken(o.Ctx)
	fmt.Fprintf(o.IO.ErrOut, "Password of %s on %s changed; the new token is stored\n", s.Slug, s.Env)
	return nil
}
