// Package service implements `oo service`: put a service behind the proxy under its slug, by
// registering an already running server (register, deregister) or by launching and supervising
// it (run).
package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/internal/credstore"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/sdk"
)

// NewCmd returns `oo service`.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "service",
		Aliases: []string{"svc"},
		Short:   "Run a service behind the proxy, or register one that is already running",
		Long: `A service is reached at SERVER/<slug>/... once an instance of it is registered under its
slug. "oo service run" does everything: it creates the service's account, starts your program
on a free port, registers it, keeps it alive and cleans up when it stops. "oo service register"
is for a server that is already running and cannot register itself.

The service account's password is generated and kept in the OS keyring (one entry per
environment and slug), so later runs log in as the same account.`,
		Example: `  oo service run -- ./mysvc
  oo service run --slug hello-svc --replicas 2 --restart on-failure -- python3 app.py
  oo service register legacy-svc --url http://127.0.0.1:8080 --health-path /healthz
  oo service deregister legacy-svc`,
	}
	cmd.AddCommand(NewCmdRegister(f, nil), NewCmdDeregister(f, nil), NewCmdRun(f, nil))
	return cmd
}

// passwordKey names the keyring entry of a service account's password. Slugs cannot contain
// ':', so it never collides with a login token stored under the bare slug.
func passwordKey(slug string) string { return "service-password:" + slug }

// passwords adapts the CLI's credential store to the SDK's PasswordStore, one entry per
// environment and slug.
type passwords struct {
	store credstore.Store
	env   string
}

func (p passwords) Password(slug string) (string, error) {
	pw, err := p.store.Get(p.env, passwordKey(slug))
	if errors.Is(err, credstore.ErrNotFound) {
		// A service run on its own before (the SDK and the examples) kept its password in its
		// own 0600 file; reading it lets `oo service run` take over the same account.
		pw, _ = sdk.FileStore{Dir: sdk.DefaultCredentialsDir()}.Password(slug)
		return pw, nil
	}
	return pw, err
}

func (p passwords) SetPassword(slug, pw string) error {
	return p.store.Set(p.env, passwordKey(slug), pw)
}

func (p passwords) describe(slug string) string { return p.store.Describe(p.env, passwordKey(slug)) }

// identity is who acts for the service: the service account itself, or an admin acting on its
// behalf when the account exists but oo has no password for it.
type identity struct {
	slug  string
	c     *client.Client // authenticated
	token string         // the service account's own token; "" when an admin acts for it
	// tokens keeps the token valid for a long run: renewed with the stored password when oo has
	// it, fixed when oo acts with the CLI user's own login.
	tokens   *sdk.Tokens
	onBehalf bool
	// unmanaged: oo cannot act for the slug at all (`service run` then only supervises).
	unmanaged bool
	created   bool
	where     string // where the password lives, for messages
}

// forSlug fills the slug field of a registration when an admin registers for another slug.
func (id *identity) forSlug() string {
	if id.onBehalf {
		return id.slug
	}
	return ""
}

// sessionFor resolves the server and the CLI user's token (which may be none).
func sessionFor(d *cmdutil.Deps) (*cmdutil.Session, error) {
	return d.Session(false)
}

func isAdmin(tok string) bool {
	c, err := cmdutil.ParseClaims(tok)
	return err == nil && slices.Contains(c.Roles, api.RoleAdmin)
}

// resolveIdentity gets a token for the service account slug: the CLI's own when it is logged in
// as slug, else by logging in with (or creating the account and storing) the password kept in
// the credential store. With create false a missing account is not created.
func resolveIdentity(ctx context.Context, d *cmdutil.Deps, s *cmdutil.Session, slug string, insecure, create bool) (*identity, error) {
	anon := d.Client(&cmdutil.Session{URL: s.URL})
	if s.Token != "" && s.Slug == slug {
		return &identity{slug: slug, c: anon.WithToken(s.Token), token: s.Token, tokens: sdk.FixedToken(s.Token), where: s.Credential}, nil
	}
	storage := config.StorageKeyring
	if d.InsecureStorage(insecure) {
		storage = config.StorageFile
	}
	ps := passwords{store: d.Store(storage), env: s.SecretScope()}
	admin := s.Token != "" && isAdmin(s.Token)
	onBehalf := func() *identity {
		return &identity{slug: slug, c: anon.WithToken(s.Token), tokens: sdk.FixedToken(s.Token), onBehalf: true, where: s.Credential}
	}
	// own is the service account itself, logged in with its stored password, which it uses again
	// whenever the token is due for renewal or refused.
	own := func(tok string, created bool) *identity {
		renew := func(ctx context.Context) (string, error) {
			pw, err := ps.Password(slug)
			if err == nil && pw == "" {
				err = fmt.Errorf("the password of %s is no longer stored for env %s", slug, s.Env)
			}
			if err != nil {
				return "", err
			}
			t, err := anon.Login(ctx, slug, pw)
			if err != nil {
				return "", fmt.Errorf("logging in again as %s: %w", slug, err)
			}
			return t.Token, nil
		}
		return &identity{slug: slug, c: anon.WithToken(tok), token: tok, tokens: sdk.RenewingToken(tok, renew), created: created, where: ps.describe(slug)}
	}

	if !create {
		pw, err := ps.Password(slug)
		if err != nil && !admin {
			return nil, keyringError(err)
		}
		if pw != "" {
			tok, err := anon.Login(ctx, slug, pw)
			if err == nil {
				return own(tok.Token, false), nil
			}
			if client.IsUnreachable(err) {
				return nil, err
			}
		}
		if s.Token != "" {
			return onBehalf(), nil
		}
		return nil, cmdutil.WithCode(cmdutil.ExitAuth, fmt.Errorf("no password for the service account %s is stored for env %s; log in as %s or as an admin", slug, s.Env, slug))
	}

	tok, created, err := sdk.EnsureAccount(ctx, anon, slug, "", ps)
	var taken *sdk.AccountTakenError
	switch {
	case err == nil:
		return own(tok.Token, created), nil
	case errors.As(err, &taken) && admin:
		return onBehalf(), nil
	case errors.As(err, &taken):
		return nil, cmdutil.WithCode(cmdutil.ExitConflict, cmdutil.AsIs(taken, fmt.Sprintf(
			"the slug %s is already taken by an account whose password oo does not have for env %s: log in as %s (oo login %s) or as an admin and run this again",
			slug, s.Env, slug, slug)))
	case client.IsStatus(err, http.StatusForbidden) && admin:
		// Registration is closed: the admin creates the account with the stored password.
		pw, perr := ps.Password(slug)
		if perr != nil || pw == "" {
			return nil, keyringError(errors.Join(err, perr))
		}
		if _, cerr := anon.WithToken(s.Token).CreateUser(ctx, api.CreateUserRequest{Slug: slug, Name: sdk.NameFromSlug(slug), Password: pw}); cerr != nil {
			return nil, cerr
		}
		tok, lerr := anon.Login(ctx, slug, pw)
		if lerr != nil {
			return nil, lerr
		}
		return own(tok.Token, true), nil
	}
	return nil, keyringError(d.Explain(s, err))
}

// keyringError adds what to do when the password cannot be kept in the keyring.
func keyringError(err error) error {
	if errors.Is(err, credstore.ErrUnavailable) {
		// Exit 1, not 4: nothing is wrong with the account; this machine cannot keep its password.
		return fmt.Errorf("%w; oo keeps service account passwords in the OS keyring: start one, or use --insecure-storage (or OO_INSECURE_STORAGE=1) for a 0600 file", err)
	}
	return err
}

// checkRegistration makes the server's own check of a registration (api.CheckRegistration)
// before anything is sent or created, naming each field by its flag.
func checkRegistration(req api.RegisterInstanceRequest) error {
	_, err := api.CheckRegistration(req)
	return flagError(err)
}

// flagOf is the flag of each registration field the commands take.
var flagOf = map[string]string{"url": "--url", "healthPath": "--health-path"}

// flagError is a usage error for err, with the request field it names replaced by its flag.
func flagError(err error) error {
	if err == nil {
		return nil
	}
	var fe *api.FieldError
	if errors.As(err, &fe) && flagOf[fe.Field] != "" && strings.HasPrefix(fe.Message, fe.Field) {
		return cmdutil.Usagef("%s%s", flagOf[fe.Field], strings.TrimPrefix(fe.Message, fe.Field))
	}
	return cmdutil.Usagef("%s", err.Error())
}

// checkNotServer refuses an instance URL that is the oo server itself: its address, or a
// loopback or any-address alias with its port (seen from the server, that is itself). The
// proxy would send every request for the slug back to the server, which answers 508.
func checkNotServer(instanceURL string, s *cmdutil.Session) error {
	iu, err := url.Parse(instanceURL)
	if err != nil {
		return nil
	}
	su, err := url.Parse(s.URL)
	if err != nil || api.PortOf(iu) != api.PortOf(su) {
		return nil
	}
	ih, sh := strings.ToLower(iu.Hostname()), strings.ToLower(su.Hostname())
	if ih != sh && !isSelfAlias(ih) {
		return nil
	}
	return cmdutil.Usagef("--url %s is the oo server itself (%s, from %s): the proxy would send every request for the slug back to the server (508 Loop Detected); give the address your service listens on",
		instanceURL, s.URL, s.URLFrom)
}

// isSelfAlias: a host that, dialled from the server's machine, reaches that machine.
func isSelfAlias(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// checkHealthPath is the server's check of --health-path (api.CheckHealthPath).
func checkHealthPath(p string) error { return flagError(api.CheckHealthPath(p)) }

// urlOwner returns the instance at rawURL when it belongs to a slug other than slug, so that a
// registration bound to fail with a conflict fails before anything (an account) is created.
// Listing needs a token: with none it returns nil and the server's answer decides.
func urlOwner(ctx context.Context, c *client.Client, slug, rawURL string) (*api.Instance, error) {
	list, err := c.ListInstances(ctx, client.InstanceFilter{})
	if err != nil {
		return nil, err
	}
	for _, in := range list {
		if in.Slug != slug && api.SameInstanceURL(in.URL, rawURL) {
			return &in, nil
		}
	}
	return nil, nil
}

// findInstances lists slug's instances, only the one at rawURL when it is given.
func findInstances(ctx context.Context, c *client.Client, slug, rawURL string) ([]api.Instance, error) {
	list, err := c.ListInstances(ctx, client.InstanceFilter{Slug: slug})
	if err != nil {
		return nil, err
	}
	var out []api.Instance
	for _, in := range list {
		if in.Slug != "" && in.Slug != slug {
			continue
		}
		if rawURL == "" || api.SameInstanceURL(in.URL, rawURL) {
			out = append(out, in)
		}
	}
	return out, nil
}

// validSlug applies the server's slug rule here, so a bad slug fails before anything is created.
func validSlug(s string) error {
	if err := api.CheckSlug(s); err != nil {
		return cmdutil.Usagef("%s", err.Error())
	}
	return nil
}
