package auth

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

// TokenOptions is what `oo token` needs.
type TokenOptions struct {
	cmdutil.Deps
}

// NewCmdToken returns `oo token` (and `oo token refresh`); runF, when set, runs instead of
// tokenRun (tests).
func NewCmdToken(f *cmdutil.Factory, runF func(*TokenOptions) error) *cobra.Command {
	o := &TokenOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print the bearer token of the selected account, for scripts",
		Example: `  curl -H "Authorization: Bearer $(oo token)" http://127.0.0.1:58231/registry-svc/instances
  OO_TOKEN=$(oo token -e staging) ./deploy.sh`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return tokenRun(o)
		},
	}
	cmd.AddCommand(NewCmdTokenRefresh(f, nil))
	return cmd
}

func tokenRun(o *TokenOptions) error {
	s, err := o.Session(true)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(o.IO.Out, s.Token)
	return err
}

// TokenRefreshOptions is what `oo token refresh` needs.
type TokenRefreshOptions struct {
	cmdutil.Deps
}

// NewCmdTokenRefresh returns `oo token refresh`; runF, when set, runs instead of
// tokenRefreshRun (tests).
func NewCmdTokenRefresh(f *cmdutil.Factory, runF func(*TokenRefreshOptions) error) *cobra.Command {
	o := &TokenRefreshOptions{Deps: f.Deps()}
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
			o.Ctx = cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return tokenRefreshRun(o)
		},
	}
}

func tokenRefreshRun(o *TokenRefreshOptions) error {
	s, err := o.Session(true)
	if err != nil {
		return err
	}
	tok, err := o.Client(s).RefreshToken(o.Ctx)
	if err != nil {
		return err
	}
	if s.FromEnvVar {
		_, err = fmt.Fprintln(o.IO.Out, tok.Token)
		return err
	}
	if err := o.Store(s.Storage).Set(s.Env, s.Slug, tok.Token); err != nil {
		return fmt.Errorf("the server issued a new token but storing it failed (the old one is revoked; log in again): %w", err)
	}
	until := ""
	if !tok.ExpiresAt.IsZero() {
		until = ", valid " + cmdutil.Until(o.Now(), tok.ExpiresAt)
	}
	fmt.Fprintf(o.IO.ErrOut, "Refreshed the token of %s on %s%s\n", s.Slug, s.Env, until)
	return nil
}
