// Package auth implements the account commands: register, login, logout, whoami, token, passwd.
// They are top-level commands because they are what people type most.
package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/internal/credstore"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

// keyringHelp explains what to do when there is no keyring. It is printed before the one-line
// error so that the error itself stays short.
const keyringHelp = `oo keeps tokens in the OS keyring (the Secret Service on Linux, Keychain on macOS, the
Credential Manager on Windows), and none is usable here. Either:
  - start one: on a desktop, install and unlock gnome-keyring (or KeePassXC with Secret
    Service enabled); on a headless box, run oo inside a D-Bus session with an unlocked
    keyring, e.g.
      dbus-run-session -- sh -c 'echo -n "$KEYRING_PASS" | gnome-keyring-daemon --unlock --components=secrets; exec $SHELL'
  - or keep the token in a plain-text file readable only by you (mode 0600):
      oo login --insecure-storage     (or export OO_INSECURE_STORAGE=1 for every command)
  - or, for scripts and CI, skip storage and pass a token in OO_TOKEN.
`

// errNoStdinPassword: --password-stdin found no line to read. passwd names which line.
var errNoStdinPassword = errors.New("--password-stdin: no password on stdin")

// readPassword reads a password: the first line of stdin with --password-stdin, else a hidden
// prompt on a terminal. A password is never taken from argv, where ps and shell history see it.
func readPassword(d *cmdutil.Deps, fromStdin bool, prompt string) (string, error) {
	ios := d.IO
	var pw string
	var err error
	switch {
	case fromStdin:
		pw, err = ios.ReadLine()
		if err != nil && pw == "" {
			return "", cmdutil.Usage(errNoStdinPassword)
		}
	case ios.CanPrompt():
		pw, err = ios.PromptSecret(prompt)
		if err != nil {
			return "", promptError(err, "password")
		}
	default:
		return "", cmdutil.Usagef("no terminal to ask for the password: pipe it in with --password-stdin")
	}
	if pw == "" {
		return "", cmdutil.Usagef("empty password")
	}
	return pw, nil
}

// promptError says what was not answered when the input ended at a prompt (^D); Ctrl-C and
// other errors pass unchanged (Ctrl-C already means "interrupted", exit 3).
func promptError(err error, what string) error {
	if errors.Is(err, iostreams.ErrNoInput) {
		return cmdutil.Usagef("no %s given (input ended at the prompt)", what)
	}
	return err
}

// askSlug returns slug, or asks for it on a terminal.
func askSlug(d *cmdutil.Deps, slug string, canPrompt bool) (string, error) {
	slug = strings.TrimSpace(slug)
	if slug != "" {
		return slug, nil
	}
	if !canPrompt || !d.IO.CanPrompt() {
		return "", cmdutil.Usagef("give the account's slug as an argument (no terminal to ask for it)")
	}
	s, err := d.IO.Prompt("Slug: ")
	if err != nil {
		return "", promptError(err, "slug")
	}
	if s = strings.TrimSpace(s); s == "" {
		return "", cmdutil.Usagef("empty slug")
	}
	return s, nil
}

// saveToken stores token for slug on the session's environment and makes slug the selected
// account. When the keyring is unusable it revokes the fresh token (so none is left dangling on
// the server), explains the options and fails: there is no silent plain-text fallback.
func saveToken(ctx context.Context, d *cmdutil.Deps, s *cmdutil.Session, slug, token string, insecure bool) (string, error) {
	storage := config.StorageKeyring
	if d.InsecureStorage(insecure) {
		storage = config.StorageFile
	}
	store := d.Store(storage)
	if err := store.Set(s.Env, slug, token); err != nil {
		_ = d.Client(s).WithToken(token).RevokeToken(ctx)
		if errors.Is(err, credstore.ErrUnavailable) {
			// Exit 1, not 4: the credentials were right, this machine cannot keep them.
			fmt.Fprint(d.IO.ErrOut, keyringHelp)
			return "", fmt.Errorf("%w; nothing was stored (see above, or use --insecure-storage)", err)
		}
		return "", fmt.Errorf("storing the token: %w", err)
	}
	cfg, err := d.Config()
	if err != nil {
		return "", err
	}
	// A token left in the other store by an earlier login would be stale; drop it.
	if prev := cfg.Environments[s.Env].Accounts[slug]; prev != nil && prev.Storage != storage {
		_ = d.Store(prev.Storage).Delete(s.Env, slug)
	}
	if err := cfg.AddAccount(s.Env, slug, storage); err != nil {
		return "", err
	}
	if err := cfg.Save(); err != nil {
		return "", err
	}
	return store.Describe(s.Env, slug), nil
}

// checkStoreTarget refuses to file a token under an environment when OO_URL (or an alias)
// points this command at another server: the token would later be sent to the env's own URL,
// which did not issue it. Adding an environment for that server is the fix, and it is cheap.
func checkStoreTarget(s *cmdutil.Session) error {
	if !s.Foreign {
		return nil
	}
	return cmdutil.Usagef("%s points at %s but env %s is %s: add an environment for it (oo env add NAME %s) and use -e NAME, or unset %s",
		s.URLFrom, s.URL, s.Env, s.EnvURL, s.URL, s.URLFrom)
}

// loginError turns a failed login into a message about the account rather than about HTTP.
func loginError(s *cmdutil.Session, slug string, err error) error {
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status == 0 {
		return err
	}
	switch ce.Status {
	case 401:
		return cmdutil.WithCode(cmdutil.ExitAuth, fmt.Errorf("wrong password for %s on env %s (%s)", slug, s.Env, s.URL))
	case 400, 404:
		return cmdutil.WithCode(cmdutil.ExitAuth, fmt.Errorf("cannot log in as %s on env %s: %s (new here? `oo register %s`)", slug, s.Env, ce.Message, slug))
	}
	return err
}
