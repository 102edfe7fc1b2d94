// Package user is the user service: accounts, slugs, passwords, roles and tokens.
//
// Tokens are RS256 JWTs signed with a key made on first boot and kept in the store. Every
// issued token also has a record in the store, mirrored in memory; a token is accepted only
// while its record exists, which is what makes logout, refresh and password change take effect
// at once. Domain errors are *apierr.Error; anything else is an internal failure.
package user

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ooctl/oo/internal/randid"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/store"
)

// AdminSlug is the account made on first boot.
const AdminSlug = "admin"

// DefaultListLimit is how many users ListUsers returns when the caller gives no limit.
const DefaultListLimit = 1000

// DefaultTokenTTL is how long an issued token lives unless the server is told otherwise: a
// month, so a developer logs in about once a month.
const DefaultTokenTTL = 720 * time.Hour

// Options configure the service.
type Options struct {
	TokenTTL     time.Duration
	Registration string // "open" or "closed"
	// AdminPassword is used only when the admin account does not exist yet (first boot). On
	// later boots it is ignored: a password changed through the API is never reset from the
	// environment. When empty on first boot, a random password is generated and printed once
	// to Notice.
	AdminPassword string
	Notice        io.Writer // where a generated admin password is printed once
	Logger        *slog.Logger
	Now           func() time.Time // for tests; default time.Now
	// BcryptCost defaults to bcrypt.DefaultCost; tests may lower it to bcrypt.MinCost.
	BcryptCost int
	// HashConcurrency bounds the password hashes (login, registration, account creation,
	// password change) running at once; default DefaultHashConcurrency. A request that waits
	// longer than HashWait (default DefaultHashWait) for a slot is answered 503.
	HashConcurrency int
	HashWait        time.Duration
	// Shared, when set, is the store as other replicas see it too: the active tokens follow its
	// watch, and token writes take no service-wide lock. Nil: this service is the only one (the
	// bolt store), and memory is the truth about live tokens.
	Shared Shared
}

// Service is the user service.
type Service struct {
	st        Store
	opts      Options
	now       func() time.Time
	log       *slog.Logger
	key       *rsa.PrivateKey
	publicPEM string
	hasher    *hasher

	// mu guards active and verified, which Authenticate reads on every request.
	mu     sync.RWMutex
	active map[string]activeToken
	// verified remembers tokens whose signature and claims checked out, so that a token seen
	// again costs two map lookups instead of an RSA verification: the proxy authenticates every
	// request that carries one. Expiry and revocation are still checked on every use.
	verified map[string]auth.Principal

	// writeMu orders token writes so that the store and the active set change together: a
	// revocation can never be undone in memory by an issue that committed before it.
	writeMu sync.Mutex
	// pruneMu guards lastPrune.
	pruneMu   sync.Mutex
	lastPrune time.Time

	// With a shared store (Options.Shared): tomb holds tokens revoked here whose deletion the
	// watch has not delivered yet, appliedRev the last store revision the watch applied (both
	// guarded by mu), and stopWatch ends the watch.
	tomb       map[string]bool
	gone       map[string]bool // tokens a store read found revoked (lookupShared)
	appliedRev int64
	stopWatch  func()
}

// New loads (or on first boot creates) the signing key and admin account, and loads the active
// tokens into memory.
func New(st Store, opts Options) (*Service, error) {
	if opts.TokenTTL <= 0 {
		return nil, fmt.Errorf("token TTL must be positive, not %s", opts.TokenTTL)
	}
	if opts.Registration == "" {
		opts.Registration = "open"
	}
	if opts.Registration != "open" && opts.Registration != "closed" {
		return nil, fmt.Errorf("registration must be open or closed, not %q", opts.Registration)
	}
	if opts.Notice == nil {
		opts.Notice = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BcryptCost == 0 {
		opts.BcryptCost = bcrypt.DefaultCost
	}
	if opts.BcryptCost < bcrypt.MinCost || opts.BcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("bcrypt cost must be between %d and %d, not %d", bcrypt.MinCost, bcrypt.MaxCost, opts.BcryptCost)
	}
	s := &Service{st: st, opts: opts, now: opts.Now, log: opts.Logger, active: map[string]activeToken{}, verified: map[string]auth.Principal{},
		tomb: map[string]bool{}, gone: map[string]bool{}}
	var err error
	if s.hasher, err = newHasher(opts.BcryptCost, opts.HashConcurrency, opts.HashWait); err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	if s.key, err = loadOrCreateKey(st); err != nil {
		return nil, err
	}
	if s.publicPEM, err = publicKeyPEM(s.key); err != nil {
		return nil, err
	}
	if err := s.ensureAdmin(); err != nil {
		return nil, err
	}
	load := s.loadActive
	if opts.Shared != nil {
		load = s.startShared
	}
	if err := load(); err != nil {
		return nil, err
	}
	return s, nil
}

// ensureAdmin creates the admin account on first boot and does nothing afterwards.
func (s *Service) ensureAdmin() error {
	if u, err := s.st.GetUserBySlug(AdminSlug); err == nil {
		// Every replica of a cluster is usually started with the same OO_ADMIN_PASSWORD; when
		// it is the admin's password it was not ignored, so there is nothing to say.
		if s.opts.AdminPassword != "" && !s.isPassword(u, s.opts.AdminPassword) {
			// Whoever set it expects it to work; say once, where they look, that it does not.
			fmt.Fprintf(s.opts.Notice, "oo: OO_ADMIN_PASSWORD was ignored: the admin account already exists and it only sets the first password; change it with `oo login admin` and `oo passwd`\n")
		}
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("look up admin account: %w", err)
	}
	pw, generated := s.opts.AdminPassword, false
	if pw == "" {
		pw, generated = randid.Base62(24), true
	}
	if err := validatePassword("admin password", pw); err != nil {
		return fmt.Errorf("cannot create the admin account: %w", err)
	}
	_, err := s.createUser(AdminSlug, "Admin", pw, []string{api.RoleUser, api.RoleAdmin}, nil)
	if apierr.Status(err) == http.StatusConflict {
		// Another replica on the same store created it first; the password that works is the
		// one it printed (or OO_ADMIN_PASSWORD), so this one must print nothing.
		s.log.Info("admin account created by another replica starting at the same time", "slug", AdminSlug)
		if generated {
			fmt.Fprintf(s.opts.Notice, "oo: the admin account was created at the same time by another server on this store; its generated password was printed there\n")
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("create admin account: %w", err)
	}
	if generated {
		fmt.Fprintf(s.opts.Notice, "\n"+
			"oo: created the admin account (slug %q) with a generated password:\n\n"+
			"    %s\n\n"+
			"oo: it is shown only this once. Set OO_ADMIN_PASSWORD before the first start to choose it;\n"+
			"oo: on later starts OO_ADMIN_PASSWORD is ignored (change the password with `oo passwd`).\n\n",
			AdminSlug, pw)
	}
	s.log.Info("created admin account", "slug", AdminSlug, "generated_password", generated)
	return nil
}

// isPassword reports whether password is u's; a failure to tell counts as no.
func (s *Service) isPassword(u store.UserRecord, password string) bool {
	ok, err := s.hasher.matches(u.PasswordHash, password)
	return err == nil && ok
}

// createUser hashes the password and stores the account; callers validate the fields first.
func (s *Service) createUser(slug, name, password string, roles []string, contact *api.Contact) (store.UserRecord, error) {
	hash, err := s.hasher.hash(password)
	if err != nil {
		return store.UserRecord{}, err
	}
	now := s.now().UTC()
	u := store.UserRecord{
		ID: newID("usr_"), Slug: slug, Name: name, PasswordHash: hash, Roles: roles,
		CreatedAt: now, UpdatedAt: now,
	}
	if contact != nil && (contact.Handle != "" || contact.ID != "") {
		u.Contacts = []store.UserContact{{ID: contact.ID, Platform: contact.Platform, Handle: contact.Handle}}
	}
	if err := s.st.CreateUser(u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.UserRecord{}, apierr.Conflict("slug %q is already taken", slug)
		}
		return store.UserRecord{}, err
	}
	return u, nil
}

// validateNew checks the fields of a new account and returns the normalized name.
func validateNew(slug, name, password string) (string, error) {
	if err := ValidateSlug(slug); err != nil {
		return "", err
	}
	if err := validatePassword("password", password); err != nil {
		return "", err
	}
	return normalizeName(name, slug)
}

// Register creates an account with the user role and returns its first token.
func (s *Service) Register(req api.RegisterRequest) (api.AuthToken, error) {
	if s.opts.Registration == "closed" {
		slug := req.Slug
		if ValidateSlug(slug) != nil {
			slug = "SLUG"
		}
		// Most people reading this have a CLI, not a wish to write a POST by hand.
		return api.AuthToken{}, apierr.Forbidden("registration is closed on this server: an admin creates the account with `oo user create %s`", slug)
	}
	name, err := validateNew(req.Slug, req.Name, req.Password)
	if err != nil {
		return api.AuthToken{}, err
	}
	// A taken slug is the common case of clients that register on every start; it need not
	// cost a password hash (createUser still settles a race). A store that did not answer will
	// not answer the write either: fail now rather than after a second timeout.
	if _, err := s.st.GetUserBySlug(req.Slug); err == nil {
		return api.AuthToken{}, apierr.Conflict("slug %q is already taken", req.Slug)
	} else if errors.Is(err, store.ErrUnavailable) {
		return api.AuthToken{}, err
	}
	u, err := s.createUser(req.Slug, name, req.Password, []string{api.RoleUser}, req.Contact)
	if err != nil {
		return api.AuthToken{}, err
	}
	return s.issue(u)
}

// CreateUser makes an account on an admin's behalf; it works when registration is closed.
func (s *Service) CreateUser(req api.CreateUserRequest) (api.User, error) {
	name, err := validateNew(req.Slug, req.Name, req.Password)
	if err != nil {
		return api.User{}, err
	}
	roles := []string{api.RoleUser}
	for _, r := range req.Roles {
		switch r {
		case api.RoleUser:
		case api.RoleAdmin:
			roles = append(roles, api.RoleAdmin)
		default:
			return api.User{}, apierr.BadRequest("unknown role %q (known: %s, %s)", r, api.RoleUser, api.RoleAdmin)
		}
	}
	u, err := s.createUser(req.Slug, name, req.Password, slices.Compact(roles), nil)
	if err != nil {
		return api.User{}, err
	}
	return toAPIUser(u), nil
}

// Login checks a slug and password and issues a token. An unknown slug is 400 and a wrong
// password 401, as the reference API does; clients rely on the difference.
func (s *Service) Login(req api.LoginRequest) (api.AuthToken, error) {
	if req.Slug == "" {
		return api.AuthToken{}, apierr.BadRequest("slug is required")
	}
	if req.Password == "" {
		return api.AuthToken{}, apierr.BadRequest("password is required")
	}
	u, err := s.st.GetUserBySlug(req.Slug)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return api.AuthToken{}, err
	}
	// An unknown slug is checked against a decoy hash: it takes as long as a wrong password,
	// so timing does not tell which slugs exist. The status still does (400 and 401, which
	// clients depend on); docs/api.md says so.
	ok, err := s.hasher.matches(u.PasswordHash, req.Password)
	switch {
	case err != nil:
		return api.AuthToken{}, err
	case !known:
		return api.AuthToken{}, apierr.BadRequest("no account with slug %q", req.Slug)
	case !ok:
		return api.AuthToken{}, apierr.Unauthorized("wrong password for %q", req.Slug)
	}
	return s.issue(u)
}

// UserByToken describes the caller.
func (s *Service) UserByToken(p auth.Principal) (api.ReadUserByTokenResponse, error) {
	u, err := s.st.GetUser(p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return api.ReadUserByTokenResponse{}, apierr.NotFound("the account of this token no longer exists")
	} else if err != nil {
		return api.ReadUserByTokenResponse{}, err
	}
	return api.ReadUserByTokenResponse{
		User:          toAPIUser(u),
		Organizations: []string{},
		Roles:         p.Roles,
		ExpiresAt:     p.ExpiresAt,
	}, nil
}

// ListUsers returns up to limit accounts in slug order (DefaultListLimit when limit is 0) and
// the total count.
func (s *Service) ListUsers(limit int) (api.ListUsersResponse, error) {
	if limit < 0 {
		return api.ListUsersResponse{}, apierr.BadRequest("limit must not be negative")
	}
	if limit == 0 {
		limit = DefaultListLimit
	}
	recs, total, err := s.st.ListUsers(limit)
	if err != nil {
		return api.ListUsersResponse{}, err
	}
	out := api.ListUsersResponse{Users: make([]api.User, 0, len(recs)), Count: total}
	for _, u := range recs {
		out.Users = append(out.Users, toAPIUser(u))
	}
	return out, nil
}

// ChangePassword changes the caller's own password and revokes the caller's other tokens; the
// token making the request stays valid so the client need not log in again. A wrong current
// password is 403, not 401: the bearer token is fine, and a 401 would tell clients to drop it.
func (s *Service) ChangePassword(p auth.Principal, req api.ChangePasswordRequest) error {
	if req.Slug != "" && req.Slug != p.Slug {
		return apierr.Forbidden("you can only change your own password (you are %q)", p.Slug)
	}
	if req.CurrentPassword == "" {
		return apierr.BadRequest("currentPassword is required")
	}
	if err := validatePassword("newPassword", req.NewPassword); err != nil {
		return err
	}
	u, err := s.st.GetUser(p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return apierr.NotFound("the account of this token no longer exists")
	} else if err != nil {
		return err
	}
	if ok, err := s.hasher.matches(u.PasswordHash, req.CurrentPassword); err != nil {
		return err
	} else if !ok {
		return apierr.Forbidden("currentPassword is wrong")
	}
	hash, err := s.hasher.hash(req.NewPassword)
	if err != nil {
		return err
	}
	defer s.lockWrites()()
	revoked, err := s.st.SetPassword(u.ID, hash, s.now().UTC(), p.TokenID)
	if err != nil {
		return err
	}
	s.deactivate(revoked...)
	s.log.Info("password changed", "slug", u.Slug, "tokens_revoked", len(revoked))
	return nil
}

// RefreshToken trades the caller's token for a fresh one with a new expiry. The old token is
// revoked in the same transaction (rotation): a leaked token cannot be refreshed alongside the
// legitimate one without one of them failing, and the number of live tokens does not grow.
// The roles in the new token are read again from the account.
func (s *Service) RefreshToken(p auth.Principal) (api.AuthToken, error) {
	u, err := s.st.GetUser(p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return api.AuthToken{}, apierr.Unauthorized("the account of this token no longer exists")
	} else if err != nil {
		return api.AuthToken{}, err
	}
	tok, rec, err := s.newToken(u)
	if err != nil {
		return api.AuthToken{}, err
	}
	defer s.lockWrites()()
	if err := s.st.ReplaceToken(p.TokenID, rec); errors.Is(err, store.ErrNotFound) {
		return api.AuthToken{}, apierr.Unauthorized("token has been revoked; log in again")
	} else if err != nil {
		return api.AuthToken{}, err
	}
	s.deactivate(p.TokenID)
	s.activate(rec)
	s.maybePrune()
	return tok, nil
}

// RevokeToken revokes the caller's token (logout). Revoking twice is harmless.
func (s *Service) RevokeToken(p auth.Principal) error {
	defer s.lockWrites()()
	if err := s.st.DeleteToken(p.TokenID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.deactivate(p.TokenID)
	return nil
}

func toAPIUser(u store.UserRecord) api.User {
	out := api.User{
		ID: u.ID, Name: u.Name, Slug: u.Slug, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
		Roles: append([]string(nil), u.Roles...),
	}
	for _, c := range u.Contacts {
		out.Contacts = append(out.Contacts, api.Contact{ID: c.ID, Platform: c.Platform, Handle: c.Handle})
	}
	return out
}
