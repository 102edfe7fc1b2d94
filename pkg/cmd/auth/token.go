package auth

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

// NewTokenCmd returns `oo token`.
func NewTokenCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print the bearer token of the selected account, for scripts",
		Example: `  curl -H "Authorization: Bearer $(oo token)" http://127.0.0.1:58231/registry-svc/instances
  OO_TOKEN=$(oo token -e staging) ./deploy.sh`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.Session(true)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(f.IOStreams.Out, s.Token)
			return err
		},
	}
	cmd.AddCommand(newTokenRefreshCmd(f))
	return cmd
}

// newTokenRefreshCmd returns `oo token refresh`.
func newTokenRefreshCmd(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "refresh",
		Short: "Trade the current token for a fresh one (the old one stops working)",
		Long: `Trade the selected account's token for a new one with a full lifetime, without typing the
password. The old token is revoked on the server at once.

A stored token is replaced where it is kept (keyring or file). With OO_TOKEN set, nothing is
stored: the new token is printed on stdout, for scripts to capture.`,
		Example: `  oo token refresh
  OO_TOKEN=$(OO_TOKEN=$OLD oo token refresh)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTokenRefresh(cmd, f)
		},
	}
}

func runTokenRefresh(cmd *cobra.Command, f *cmdutil.Factory) error {
	s, err := f.Session(true)
	if err != nil {
		return err
	}
	tok, err := f.Client(s).RefreshToken(cmd.Context())
	if err != nil {
		return err
	}
	if s.FromEnvVar {
		_, err = fmt.Fprintln(f.IOStreams.Out, tok.Token)
		return err
	}
	if err := f.Store(s.Storage).Set(s.Env, s.Slug, tok.Token); err != nil {
		return fmt.Errorf("the server issued a new token but storing it failed (the old one is revoked; log in again): %w", err)
	}
	until := ""
	if !tok.ExpiresAt.IsZero() {
		until = ", valid " + cmdutil.Until(f.Clock(), tok.ExpiresAt)
	}
	fmt.Fprintf(f.IOStreams.ErrOut, "Refreshed the token of %s on %s%s\n", s.Slug, s.Env, until)
	return nil
}
