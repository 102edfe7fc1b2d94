// Package user is the user service: accounts, slugs, passwords, roles and tokens.
package user

import (
	"io"
	"log/slog"
	"time"

	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/store"
)

// Options configure the service.
type Options struct {
	TokenTTL      time.Duration
	Registration  string    // "open" or "closed"
	AdminPassword string    // first boot: the admin's password; generated and printed when empty
	Notice        io.Writer // where a generated admin password is printed once
	Logger        *slog.Logger
	Now           func() time.Time // for tests; default time.Now
}

// Service is the user service. STUB: to be implemented.
type Service struct{}

// New loads (or on first boot creates) the signing key and admin account.
func New(st *store.Store, opts Options) (*Service, error) { return &Service{}, nil }

// Authenticate verifies a bearer token: signature, expiry, and that its id is still active.
func (s *Service) Authenticate(token string) (auth.Principal, error) {
	return auth.Principal{}, apierr.Unauthorized("not implemented")
}
