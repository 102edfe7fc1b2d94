// Package config is the client's configuration: named environments (a server URL each), which
// one is selected, and which accounts are logged in to each. It never holds a secret: tokens
// live in the credential store (internal/credstore), and the config only records where.
//
// The file is JSON, meant to be readable and editable by hand, at $XDG_CONFIG_HOME/oo/config.json
// (or $OO_CONFIG_DIR/config.json). Writes are atomic (temp file + rename) with mode 0600.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"

	"github.com/adrg/xdg"

	"github.com/ooctl/oo/internal/atomicfile"
	"github.com/ooctl/oo/pkg/api"
)

// DefaultEnv is the environment that always exists and points at a server on this machine.
const DefaultEnv = "local"

// Storage names where an account's token is kept.
const (
	StorageKeyring = "keyring" // the OS keyring
	StorageFile    = "file"    // a 0600 file, chosen with --insecure-storage
)

// Account is one logged-in user of an environment.
type Account struct {
	Storage string `json:"storage"`
}

// Environment is one server the client knows.
type Environment struct {
	URL         string              `json:"url"`
	Description string              `json:"description,omitempty"`
	User        string              `json:"user,omitempty"` // the selected account's slug
	Accounts    map[string]*Account `json:"accounts,omitempty"`
}

// Slugs lists the environment's accounts, sorted.
func (e *Environment) Slugs() []string {
	out := make([]string, 0, len(e.Accounts))
	for s := range e.Accounts {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Config is the whole file.
type Config struct {
	Current      string                  `json:"current"`
	Environments map[string]*Environment `json:"environments"`

	path string
}

// Dir is the directory of the client's config: $OO_CONFIG_DIR, else $XDG_CONFIG_HOME/oo. The
// environment is read on every call (adrg/xdg resolves once at start-up, which tests and
// long-lived callers cannot change).
func Dir() string {
	if d := os.Getenv(api.EnvConfigDir); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "oo")
	}
	return filepath.Join(xdg.ConfigHome, "oo")
}

// DefaultPath is the config file in Dir.
func DefaultPath() string { return filepath.Join(Dir(), "config.json") }

// New is the configuration of a first run: just the local environment.
func New(path string) *Config {
	c := &Config{path: path}
	c.normalize()
	return c
}

// Load reads the config at path; a missing file is a first run, not an error.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return New(path), nil
	}
	if err != nil {
		return nil, err
	}
	c := &Config{}
	if err := json.Unmarshal(raw, c); err != nil {
		return nil, fmt.Errorf("reading %s: %w (fix or delete the file)", path, err)
	}
	c.path = path
	c.normalize()
	return c, nil
}

func (c *Config) normalize() {
	if c.Environments == nil {
		c.Environments = map[string]*Environment{}
	}
	if c.Environments[DefaultEnv] == nil {
		c.Environments[DefaultEnv] = &Environment{URL: api.DefaultURL, Description: "a server on this machine"}
	}
	for _, e := range c.Environments {
		if e.Accounts == nil {
			e.Accounts = map[string]*Account{}
		}
	}
	if c.Environments[c.Current] == nil {
		c.Current = DefaultEnv
	}
}

// Path is where the config is saved.
func (c *Config) Path() string { return c.path }

// Save writes the config atomically with mode 0600: a crash leaves the old file or the new one,
// never half of one.
func (c *Config) Save() error {
	raw, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(c.path, append(raw, '\n'))
}

// ErrUnknownEnv is returned for a name that is not configured.
var ErrUnknownEnv = errors.New("unknown environment")

// UnknownEnvError names the missing environment and the ones that exist.
type UnknownEnvError struct {
	Name  string
	Known []string
}

func (e *UnknownEnvError) Error() string {
	return fmt.Sprintf("no environment named %q (known: %v; add one with `oo env add NAME URL`)", e.Name, e.Known)
}

func (e *UnknownEnvError) Is(target error) bool { return target == ErrUnknownEnv }

// Env returns the named environment.
func (c *Config) Env(name string) (*Environment, error) {
	if e := c.Environments[name]; e != nil {
		return e, nil
	}
	return nil, &UnknownEnvError{Name: name, Known: c.Names()}
}

// Names lists the environments, sorted.
func (c *Config) Names() []string {
	out := make([]string, 0, len(c.Environments))
	for n := range c.Environments {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

var envName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$`)

// ValidName checks an environment name: letters, digits, '.', '_', '-'; it is also part of the
// keyring account name, so no '/'.
func ValidName(name string) error {
	if !envName.MatchString(name) {
		return fmt.Errorf("invalid environment name %q: use letters, digits, '.', '_' and '-'", name)
	}
	return nil
}

// AddAccount records that slug is logged in to env with storage and selects it.
func (c *Config) AddAccount(env, slug, storage string) error {
	e, err := c.Env(env)
	if err != nil {
		return err
	}
	if e.Accounts == nil {
		e.Accounts = map[string]*Account{}
	}
	e.Accounts[slug] = &Account{Storage: storage}
	e.User = slug
	return nil
}

// RemoveAccount forgets slug on env. When it was the selected account another one (the first by
// name) is selected, or none.
func (c *Config) RemoveAccount(env, slug string) {
	e := c.Environments[env]
	if e == nil {
		return
	}
	delete(e.Accounts, slug)
	if e.User == slug {
		e.User = ""
		if s := e.Slugs(); len(s) > 0 {
			e.User = s[0]
		}
	}
}

// HasAccount reports whether slug is logged in to env.
func (c *Config) HasAccount(env, slug string) bool {
	e := c.Environments[env]
	return e != nil && slices.Contains(e.Slugs(), slug)
}
