// Package credstore keeps bearer tokens: in the OS keyring (the default), or in a 0600 file
// when the user explicitly asks for insecure storage. One secret per environment and slug.
//
// Every keyring call runs under a timeout, because a Secret Service that never answers (a
// locked keyring waiting on a prompt nobody sees, a wedged D-Bus) must not hang the CLI.
package credstore

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/zalando/go-keyring"
)

// Service is the keyring service name of every oo entry.
const Service = "oo"

// DefaultTimeout bounds every keyring call.
const DefaultTimeout = 3 * time.Second

var (
	// ErrNotFound: no token is stored for that environment and slug.
	ErrNotFound = errors.New("no stored token")
	// ErrUnavailable: the store cannot be used at all (no keyring on this machine, or it did
	// not answer in time).
	ErrUnavailable = errors.New("credential store unavailable")
)

// Store keeps one token per environment and slug.
type Store interface {
	Get(env, slug string) (string, error)
	Set(env, slug, token string) error
	Delete(env, slug string) error
	// Describe says where the token of env/slug lives, for `oo whoami`.
	Describe(env, slug string) string
}

// Account is the key of one entry: "<env>/<slug>". Environment names cannot contain '/'.
func Account(env, slug string) string { return env + "/" + slug }

// Backend is the part of go-keyring the store uses, so tests can make it fail or hang.
type Backend interface {
	Set(service, user, secret string) error
	Get(service, user string) (string, error)
	Delete(service, user string) error
}

type osKeyring struct{}

func (osKeyring) Set(s, u, p string) error        { return keyring.Set(s, u, p) }
func (osKeyring) Get(s, u string) (string, error) { return keyring.Get(s, u) }
func (osKeyring) Delete(s, u string) error        { return keyring.Delete(s, u) }

// Keyring stores tokens in the OS keyring.
type Keyring struct {
	Backend Backend
	Timeout time.Duration
	// Getenv, when set, is used to check for a D-Bus session bus before any call (Linux and
	// BSD), so that no call makes godbus autolaunch one. Nil skips the check (fake backends).
	Getenv func(string) string
}

// NewKeyring is the OS keyring with the default timeout.
func NewKeyring() *Keyring {
	return &Keyring{Backend: osKeyring{}, Timeout: DefaultTimeout, Getenv: os.Getenv}
}

// UnavailableError says why the keyring cannot be used; it matches ErrUnavailable.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("the OS keyring is not available: %v", e.Err)
}
func (e *UnavailableError) Unwrap() error        { return e.Err }
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// do runs f in a goroutine and gives up after the timeout. The goroutine may outlive the call;
// it only holds a D-Bus request, and the CLI exits soon after anyway.
func (k *Keyring) do(f func() (string, error)) (string, error) {
	if k.Getenv != nil {
		if err := noSessionBus(k.Getenv); err != nil {
			return "", &UnavailableError{Err: err}
		}
	}
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := f()
		ch <- result{s, err}
	}()
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if errors.Is(r.err, keyring.ErrNotFound) {
			return "", ErrNotFound
		}
		if r.err != nil {
			return "", &UnavailableError{Err: r.err}
		}
		return r.s, nil
	case <-t.C:
		return "", &UnavailableError{Err: fmt.Errorf("no answer within %s (is the keyring locked?)", timeout)}
	}
}

func (k *Keyring) Get(env, slug string) (string, error) {
	return k.do(func() (string, error) { return k.Backend.Get(Service, Account(env, slug)) })
}

func (k *Keyring) Set(env, slug, token string) error {
	_, err := k.do(func() (string, error) { return "", k.Backend.Set(Service, Account(env, slug), token) })
	return err
}

func (k *Keyring) Delete(env, slug string) error {
	_, err := k.do(func() (string, error) { return "", k.Backend.Delete(Service, Account(env, slug)) })
	return err
}

func (k *Keyring) Describe(env, slug string) string {
	return fmt.Sprintf("OS keyring (service %q, account %q)", Service, Account(env, slug))
}
