// Package auth describes the authenticated caller. Handlers receive the Principal as an
// argument (no request context is cloned to carry it). It is a leaf package so
// that the user service (which makes principals) and the HTTP layer and registry (which read
// them) do not import each other.
package auth

import (
	"slices"
	"strings"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

// Principal is who a verified bearer token says the caller is.
type Principal struct {
	UserID    string
	Slug      string
	Roles     []string
	TokenID   string
	ExpiresAt time.Time
}

// IsAdmin reports whether the principal holds the admin role.
func (p Principal) IsAdmin() bool { return slices.Contains(p.Roles, api.RoleAdmin) }

// BearerToken returns the token of an Authorization header value of the Bearer scheme (any
// case), or "" for anything else.
func BearerToken(authorization string) string {
	if len(authorization) > 7 && strings.EqualFold(authorization[:7], "bearer ") {
		return strings.TrimSpace(authorization[7:])
	}
	return ""
}
