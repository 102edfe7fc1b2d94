package sdk

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/ooctl/oo/internal/atomicfile"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
)

// PasswordStore keeps the passwords of service accounts, one per slug. The SDK uses a FileStore;
// the oo CLI passes one backed by the OS keyring.
type PasswordStore interface {
	// Password returns the stored password of slug, or "" and no error when there is none.
	Password(slug string) (string, error)
	SetPassword(slug, password string) error
}

// FileStore keeps each password in Dir/<slug>.json, mode 0600, Dir itself 0700.
type FileStore struct{ Dir string }

type storedCredential struct {
	Slug     string `json:"slug"`
	Password string `json:"password"`
}

func (s FileStore) path(slug string) string { return filepath.Join(s.Dir, slug+".json") }

// Password implements PasswordStore.
func (s FileStore) Password(slug string) (string, error) {
	raw, err := os.ReadFile(s.path(slug))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var c storedCredential
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", fmt.Errorf("reading %s: %w", s.path(slug), err)
	}
	return c.Password, nil
}

// SetPassword implements PasswordStore. The file is written under a temporary name and renamed,
// so a crash never leaves a half-written password behind.
func (s FileStore) SetPassword(slug, password string) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	// MkdirAll leaves an existing directory's mode alone; ours must not be listable by others.
	if err := os.Chmod(s.Dir, 0o700); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(storedCredential{Slug: slug, Password: password}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path(slug), append(raw, '\n'))
}

// RandomPassword returns a password with 192 bits from the system's random source.
func RandomPassword() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return base64.RawURLEncoding.EncodeToString(b)
}

// NameFromSlug makes a display name: "skeleton-svc" becomes "Skeleton Svc".
func NameFromSlug(slug string) string {
	parts := strings.Split(slug, "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, " ")
}

// AccountTakenError means the slug belongs to an account whose password the caller does not
// have: registered by someone else, or by this service with a password since lost.
type AccountTakenError struct {
	Slug string
	Err  error
}

func (e *AccountTakenError) Error() string {
	return fmt.Sprintf("the slug %q is already registered and no working password for it is stored here; "+
		"pass the account's token in %s, or have an admin remove the account", e.Slug, EnvToken)
}

func (e *AccountTakenError) Unwrap() error { return e.Err }

// StatusCode lets the CLI map this to its "conflict" exit code.
func (e *AccountTakenError) StatusCode() int { return http.StatusConflict }

// EnsureAccount returns a token for the service account slug: it logs in with the stored
// password, or registers the slug with a new random password (stored before the account is
// created, so a crash in between cannot orphan it). created reports a new account.
func EnsureAccount(ctx context.Context, c *client.Client, slug, name string, ps PasswordStore) (tok *api.AuthToken, created bool, err error) {
	if name == "" {
		name = NameFromSlug(slug)
	}
	pw, err := ps.Password(slug)
	if err != nil {
		return nil, false, fmt.Errorf("reading the stored password of %s: %w", slug, err)
	}
	if pw != "" {
		tok, err := c.Login(ctx, slug, pw)
		switch {
		case err == nil:
			return tok, false, nil
		case client.IsStatus(err, http.StatusUnauthorized):
			return nil, false, &AccountTakenError{Slug: slug, Err: err}
		case !client.IsStatus(err, http.StatusBadRequest) && !client.IsStatus(err, http.StatusNotFound):
			return nil, false, fmt.Errorf("logging in as %s: %w", slug, err)
		}
		// No such account on this server (a fresh one): create it with the stored password.
	} else {
		pw = RandomPassword()
		if err := ps.SetPassword(slug, pw); err != nil {
			return nil, false, fmt.Errorf("storing the password of %s: %w", slug, err)
		}
	}
	tok, err = c.Register(ctx, api.RegisterRequest{Slug: slug, Name: name, Password: pw})
	if err == nil {
		return tok, true, nil
	}
	if client.IsStatus(err, http.StatusConflict) {
		return nil, false, &AccountTakenError{Slug: slug, Err: err}
	}
	return nil, false, fmt.Errorf("registering the service account %s: %w", slug, err)
}
