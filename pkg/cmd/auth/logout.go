package auth

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/credstore"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// LogoutOptions is what `oo logout` needs.
type LogoutOptions struct {
	cmdutil.Deps
	slug string // empty: the selected account
}

// NewCmdLogout returns `oo logout`; runF, when set, runs instead of logoutRun (tests).
func NewCmdLogout(f *cmdutil.Factory, runF func(*LogoutOptions) error) *cobra.Command {
	o := &LogoutOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "logout [SLUG]",
		Short: "Revoke the token on the server and delete it locally",
		Long: `Revoke the selected account's token (or SLUG's) on the server and delete it from the
credential store. When the server cannot be reached the token is still deleted locally, with a
warning: it stays valid on the server until it expires. Like login, it refuses when OO_URL
names another server than the environment's: that server did not issue the token.`,
		Example: `  oo logout
  oo logout ci-bot -e staging`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.slug = args[0]
			}
			o.Ctx = cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return logoutRun(o)
		},
	}
	return cmd
}

func logoutRun(o *LogoutOptions) error {
	slug := o.slug
	s, err := o.Target()
	if err != nil {
		return err
	}
	// Revoking would send the env's stored token to the server OO_URL names, which did not
	// issue it; deleting it locally would log out of a server this command is not about.
	if err := checkStoreTarget(s); err != nil {
		return err
	}
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	if slug == "" {
		slug = s.Slug
	}
	if slug == "" || !cfg.HasAccount(s.Env, slug) {
		who := "anyone"
		if slug != "" {
			who = slug
		}
		return cmdutil.WithCode(cmdutil.ExitAuth, fmt.Errorf("not logged in to env %s as %s", s.Env, who))
	}
	store := o.Store(cfg.Environments[s.Env].Accounts[slug].Storage)
	ios := o.IO
	tok, err := store.Get(s.Env, slug)
	switch {
	case err == nil:
		err := o.Client(s).WithToken(tok).RevokeToken(o.Ctx)
		var ce *client.Error
		switch {
		case err == nil:
		case errors.As(err, &ce) && ce.Status == 0:
			fmt.Fprintf(ios.ErrOut, "oo: cannot reach %s (%s); the token was only deleted locally and stays valid until it expires\n", s.URL, ce.Message)
		case errors.As(err, &ce) && ce.Status == 401:
			// Already expired or revoked: nothing left to do on the server.
		default:
			fmt.Fprintf(ios.ErrOut, "oo: the server did not revoke the token: %v\n", err)
		}
		if err := store.Delete(s.Env, slug); err != nil && !errors.Is(err, credstore.ErrNotFound) {
			return fmt.Errorf("deleting the token of %s: %w", slug, err)
		}
	case errors.Is(err, credstore.ErrNotFound):
		// Already gone from the store; forget the account below.
	default:
		return fmt.Errorf("reading the token of %s: %w", slug, err)
	}
	cfg.RemoveAccount(s.Env, slug)
	if err := cfg.Save(); err != nil {
		return err
	}
	msg := fmt.Sprintf("Logged out %s from %s", slug, s.Env)
	if u := cfg.Environments[s.Env].User; u != "" {
		msg += "; now using " + u
	}
	fmt.Fprintln(ios.ErrOut, msg)
	return nil
}
