package cmdutil

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/internal/credstore"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/iostreams"
)

// Factory is what commands depend on. Everything a command touches outside its arguments comes
// from here, so a test can give it fake terminals, a temp config, an in-memory credential store,
// a fixed clock and a real in-process server.
type Factory struct {
	IOStreams *iostreams.IOStreams
	// ConfigPath is the config file; default config.DefaultPath().
	ConfigPath string
	// Keyring is the secure credential store; Insecure is the 0600 file used only with
	// --insecure-storage.
	Keyring  credstore.Store
	Insecure credstore.Store
	Getenv   func(string) string
	Now      func() time.Time
	// HTTPClient, when set, is used by every API client (tests use short timeouts).
	HTTPClient *http.Client
	// EnvFlag is the value of the global -e/--env flag.
	EnvFlag string

	cfg *config.Config
}

// NewFactory wires the real dependencies.
func NewFactory(ios *iostreams.IOStreams) *Factory {
	return &Factory{
		IOStreams:  ios,
		ConfigPath: config.DefaultPath(),
		Keyring:    credstore.NewKeyring(),
		Insecure:   credstore.NewFile(filepath.Join(config.Dir(), "credentials.json")),
		Getenv:     os.Getenv,
		Now:        time.Now,
	}
}

// Config loads the config file once per command.
func (f *Factory) Config() (*config.Config, error) {
	if f.cfg != nil {
		return f.cfg, nil
	}
	path := f.ConfigPath
	if path == "" {
		path = config.DefaultPath()
	}
	c, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	f.cfg = c
	return c, nil
}

// Store returns the store for a config storage name.
func (f *Factory) Store(storage string) credstore.Store {
	if storage == config.StorageFile {
		return f.Insecure
	}
	return f.Keyring
}

// Session is who talks to which server for this command.
type Session struct {
	Env     string // environment name
	URL     string // server URL
	URLFrom string // where the URL came from: "env local" or "OO_URL"
	Slug    string // the account; from the token itself when it came from OO_TOKEN
	Token   string
	// Credential says where the token came from, for messages and `oo whoami`.
	Credential string
	// FromEnvVar is true when the token is OO_TOKEN's.
	FromEnvVar bool
	Storage    string // config storage name of a stored token
	// EnvURL is the environment's own URL. Foreign is true when OO_URL (or an alias) points
	// this command at another server: the environment's stored tokens were not issued there
	// and are never sent to it.
	EnvURL  string
	Foreign bool
}

// SecretScope is the credential-store namespace for secrets kept for the session's server
// (service account passwords): the env's name, or for a foreign OO_URL one of its own ("@" and
// the URL; env names cannot start with '@'), so a secret kept for one server is never sent to
// another.
func (s *Session) SecretScope() string {
	if s.Foreign {
		return "@" + serverKey(s.URL)
	}
	return s.Env
}

// EnvName is the selected environment: -e, else $OO_ENV, else the config's current one.
func (f *Factory) EnvName() (string, error) {
	cfg, err := f.Config()
	if err != nil {
		return "", err
	}
	name := f.EnvFlag
	if name == "" {
		name = f.Getenv(api.EnvEnv)
	}
	if name == "" {
		name = cfg.Current
	}
	if _, err := cfg.Env(name); err != nil {
		return "", Usage(err)
	}
	return name, nil
}

// Target resolves the environment, server URL and selected account, without reading a token.
// The session is the caller's value: the factory keeps nothing of it.
func (f *Factory) Target() (*Session, error) {
	name, err := f.EnvName()
	if err != nil {
		return nil, err
	}
	e := f.cfg.Environments[name]
	s := &Session{Env: name, URL: e.URL, URLFrom: "env " + name, Slug: e.User, EnvURL: e.URL}
	// api.URLVars override the server URL for one command, strongest first. OB_URL and
	// OPENORCH_URL are what services written for 1Backend/OpenOrch already export.
	for _, v := range api.URLVars {
		if u := strings.TrimSpace(f.Getenv(v)); u != "" {
			if err := CheckServerURL(u); err != nil {
				return nil, Usagef("%s=%q: %v", v, u, err)
			}
			s.URL, s.URLFrom = u, v
			s.Foreign = !SameServer(u, e.URL)
			break
		}
	}
	if s.URLFrom == "env "+name {
		// A hand-edited config can hold anything; say so instead of "cannot reach".
		if err := CheckServerURL(s.URL); err != nil {
			return nil, Usagef("env %s has the URL %q: %v (fix it with `oo env add %s URL --force`)", name, s.URL, err, name)
		}
	}
	if s.Foreign {
		// The env's accounts live on another server: none of them is "who you are" here.
		s.Slug = ""
	}
	if s.Slug != "" {
		if a := e.Accounts[s.Slug]; a != nil {
			s.Storage = a.Storage
		}
	}
	return s, nil
}

// Session resolves the target and its token: $OO_TOKEN, else the selected account's stored
// token. With required, having none is an error that says how to log in.
func (f *Factory) Session(required bool) (*Session, error) {
	s, err := f.Target()
	if err != nil {
		return nil, err
	}
	if tok := strings.TrimSpace(f.Getenv(api.EnvToken)); tok != "" {
		s.Token, s.FromEnvVar, s.Credential = tok, true, "the OO_TOKEN environment variable"
		s.Storage = ""
		if c, err := ParseClaims(tok); err == nil {
			s.Slug = c.Slug
		}
		if required {
			if err := f.checkExpiry(s); err != nil {
				return nil, err
			}
		}
		return s, nil
	}
	if s.Foreign {
		if required {
			return nil, WithCode(ExitAuth, fmt.Errorf("%s points at %s, not at env %s (%s), and a stored token goes only to the server that issued it: set OO_TOKEN, or add an environment for that server (`oo env add NAME %s`, then `oo login -e NAME`)",
				s.URLFrom, s.URL, s.Env, s.EnvURL, s.URL))
		}
		return s, nil
	}
	if s.Slug == "" {
		if required {
			return nil, WithCode(ExitAuth, fmt.Errorf("not logged in to env %s: run `%s`", s.Env, f.loginHint(s, "")))
		}
		return s, nil
	}
	store := f.Store(s.Storage)
	tok, err := store.Get(s.Env, s.Slug)
	switch {
	case errors.Is(err, credstore.ErrNotFound):
		if required {
			return nil, WithCode(ExitAuth, fmt.Errorf("no stored token for %s on env %s (was it removed from the keyring?): run `%s`",
				s.Slug, s.Env, f.loginHint(s, s.Slug)))
		}
		return s, nil
	case err != nil:
		if required {
			// Not an auth failure: the credentials may be fine, this machine cannot read them.
			return nil, fmt.Errorf("reading the token of %s on env %s: %w (or set OO_TOKEN)", s.Slug, s.Env, err)
		}
		return s, nil
	}
	s.Token = tok
	s.Credential = store.Describe(s.Env, s.Slug)
	if required {
		if err := f.checkExpiry(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// checkExpiry fails offline when the session's token is past its expiry: no round trip, and
// every command says it the same way (`oo token` must not print a dead token either).
func (f *Factory) checkExpiry(s *Session) error {
	c, err := ParseClaims(s.Token)
	if err != nil || c.ExpiresAt.IsZero() || c.ExpiresAt.After(f.Clock()) {
		return nil // unreadable tokens are for the server to judge
	}
	return WithCode(ExitAuth, errors.New(f.expiredMessage(s, c.ExpiresAt)))
}

// expiredMessage is the one wording of "your token expired", offline or from a server's 401.
func (f *Factory) expiredMessage(s *Session, at time.Time) string {
	if s.FromEnvVar {
		return fmt.Sprintf("the token in OO_TOKEN expired %s: set a fresh one (`oo token` prints one after `oo login`)", Age(f.Clock(), at))
	}
	return fmt.Sprintf("the token of %s on env %s expired %s: run `%s`", s.Slug, s.Env, Age(f.Clock(), at), f.loginHint(s, s.Slug))
}

// loginHint is the login command for the session's environment. It names the environment
// when the user chose one for this command (-e, OO_ENV) or it is not the current one, so the
// hint can be pasted as is.
// LoginHint is the command that logs slug in again to s's environment, with -e when needed.
func (f *Factory) LoginHint(s *Session, slug string) string { return f.loginHint(s, slug) }

func (f *Factory) loginHint(s *Session, slug string) string {
	cmd := "oo login"
	if slug != "" {
		cmd += " " + slug
	}
	chosen := f.EnvFlag != "" || (f.Getenv != nil && f.Getenv(api.EnvEnv) != "")
	if cfg, err := f.Config(); chosen || (err == nil && s.Env != cfg.Current) {
		cmd += " -e " + s.Env
	}
	return cmd
}

// Client is an API client for s (authenticated when s has a token).
func (f *Factory) Client(s *Session) *client.Client {
	var opts []client.Option
	if s.Token != "" {
		opts = append(opts, client.WithToken(s.Token))
	}
	if f.HTTPClient != nil {
		opts = append(opts, client.WithHTTPClient(f.HTTPClient))
	}
	return client.New(s.URL, opts...)
}

// CheckServerURL accepts what a client can talk to: an http:// or https:// URL with a host.
func CheckServerURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL (%v); want e.g. http://127.0.0.1:58231", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http:// or https:// URL with a host, e.g. http://127.0.0.1:58231")
	}
	return nil
}

// SameServer reports whether two server URLs name the same server as a user means it: scheme
// and host case, an explicit default port and a trailing slash make no difference.
func SameServer(a, b string) bool { return serverKey(a) == serverKey(b) }

func serverKey(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return strings.TrimRight(raw, "/")
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), api.PortOf(u)) + strings.TrimRight(u.EscapedPath(), "/")
}

// Clock returns the current time from Now.
func (f *Factory) Clock() time.Time {
	if f.Now == nil {
		return time.Now()
	}
	return f.Now()
}

// NeedsExplaining reports whether Explain would look at err: an API error nobody has worded yet.
func NeedsExplaining(err error) bool {
	var ce *client.Error
	return err != nil && errors.As(err, &ce) && !worded(err)
}

// Explain turns an API error into a one-line message that says what to do next, keeping its
// exit code: server down, token expired or revoked, forbidden. s is the session the error
// happened in (nil when none could be resolved). Other errors pass unchanged. The root applies
// it once to whatever a command returns; a command calls it itself only for a message it
// prints and goes on (a watch, one of several ids) or wraps further.
func (f *Factory) Explain(s *Session, err error) error {
	if !NeedsExplaining(err) {
		return err
	}
	var ce *client.Error
	errors.As(err, &ce)
	switch {
	case ce.Status == 0:
		u := ce.URL
		if s != nil {
			u = s.URL
		}
		return AsIs(err, fmt.Sprintf("cannot reach the oo server at %s: %s (is `oo server start` running?)", u, ce.Message))
	case ce.Status == http.StatusUnauthorized && s != nil && s.Token != "":
		if s.FromEnvVar {
			return AsIs(err, fmt.Sprintf("the token in OO_TOKEN was rejected: %s", ce.Message))
		}
		if c, perr := ParseClaims(s.Token); perr == nil && !c.ExpiresAt.IsZero() && !c.ExpiresAt.After(f.Clock()) {
			return AsIs(err, f.expiredMessage(s, c.ExpiresAt))
		}
		return AsIs(err, fmt.Sprintf("the token of %s on env %s is expired or revoked (%s): run `%s`",
			s.Slug, s.Env, ce.Message, f.loginHint(s, s.Slug)))
	case ce.Status == http.StatusUnauthorized && s != nil:
		return AsIs(err, fmt.Sprintf("%s: not logged in to env %s: run `%s`", ce.Message, s.Env, f.loginHint(s, "")))
	case ce.Status == http.StatusForbidden && s != nil && s.Slug != "":
		return AsIs(err, fmt.Sprintf("%s (you are %s on env %s)", ce.Message, s.Slug, s.Env))
	}
	return err
}

// InsecureStorage reports whether credentials go to the plain 0600 file: the flag, or
// OO_INSECURE_STORAGE (api.EnvInsecure) set to a true value. The variable makes
// --insecure-storage the default for a shell session: a container or a headless box has no
// keyring, and repeating the flag on every command is easy to forget. Setting it is still an
// explicit choice; nothing falls back to a plain file on its own.
func (f *Factory) InsecureStorage(flag bool) bool {
	if flag {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(f.Getenv(api.EnvInsecure))) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}
