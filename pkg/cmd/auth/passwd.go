package auth

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/pkg/cmdutil"
)

type passwdOptions struct {
	f             *cmdutil.Factory
	passwordStdin bool
}

// NewPasswdCmd returns `oo passwd`.
func NewPasswdCmd(f *cmdutil.Factory) *cobra.Command {
	o := &passwdOptions{f: f}
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Change the selected account's password",
		Long: `Change the password of the selected account. The server revokes the account's other
tokens; oo logs in again with the new password and stores the fresh token.
With --password-stdin, stdin holds two lines: the current password, then the new one.`,
		Example: `  oo passwd
  printf '%s\n%s\n' "$OLD" "$NEW" | oo passwd --password-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runPasswd(cmd, o) },
	}
	cmd.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "read the current and the new password from two lines of stdin")
	return cmd
}

func runPasswd(cmd *cobra.Command, o *passwdOptions) error {
	f := o.f
	t, err := f.Target()
	if err != nil {
		return err
	}
	if err := checkStoreTarget(t); err != nil {
		return err
	}
	s, err := f.Session(true)
	if err != nil {
		return err
	}
	if s.FromEnvVar {
		return cmdutil.Usagef("passwd changes a stored account's password; unset OO_TOKEN first")
	}
	cur, err := readPassword(f, o.passwordStdin, "Current password: ")
	if err != nil {
		return err
	}
	next, err := newPassword(f, o.passwordStdin, "New password: ")
	if errors.Is(err, errNoStdinPassword) {
		return cmdutil.Usagef("--password-stdin: the second line of stdin (the new password) is missing")
	}
	if err != nil {
		return err
	}
	c := f.Client(s)
	// Check the token first: afterwards a 401 can only mean a wrong current password.
	if _, err := c.Whoami(cmd.Context()); err != nil {
		return err
	}
	if err := c.ChangePassword(cmd.Context(), cur, next); err != nil {
		if code := cmdutil.ExitCode(err); code == cmdutil.ExitAuth || code == cmdutil.ExitUsage || code == cmdutil.ExitError {
			return cmdutil.WithCode(code, fmt.Errorf("password of %s not changed: %s", s.Slug, err.Error()))
		}
		return err
	}
	tok, err := c.Login(cmd.Context(), s.Slug, next)
	if err != nil {
		return fmt.Errorf("password changed, but logging in with it failed: %w (run `oo login %s`)", err, s.Slug)
	}
	storage := s.Storage
	if storage == "" {
		storage = config.StorageKeyring
	}
	if _, err := saveToken(cmd.Context(), f, s, s.Slug, tok.Token, storage == config.StorageFile); err != nil {
		return err
	}
	// The old token may have survived the change; it is no longer stored, so retire it.
	_ = c.RevokeToken(cmd.Context())
	fmt.Fprintf(f.IOStreams.ErrOut, "Password of %s on %s changed; the new token is stored\n", s.Slug, s.Env)
	return nil
}
