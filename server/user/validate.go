package user

import (
	"strings"
	"unicode/utf8"

	"github.com/ooctl/oo/internal/randid"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
)

const (
	// MinPasswordLen counts characters, not bytes, so a non-ASCII password is not penalised.
	MinPasswordLen = 8
	// MaxPasswordBytes is bcrypt's input limit. Longer passwords are refused rather than
	// silently truncated (two passwords sharing their first 72 bytes would both log in) or
	// pre-hashed (which would make the stored hashes unusable by any other bcrypt tool).
	MaxPasswordBytes = 72
	maxNameLen       = 200
)

// ValidateSlug checks a slug against api.CheckSlug, as a 400.
func ValidateSlug(slug string) error {
	if err := api.CheckSlug(slug); err != nil {
		return apierr.BadRequest("%s", err.Error())
	}
	return nil
}

// validatePassword checks a new password; field names it in the message ("password",
// "newPassword").
func validatePassword(field, pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return apierr.BadRequest("%s must be at least %d characters", field, MinPasswordLen)
	}
	if len(pw) > MaxPasswordBytes {
		return apierr.BadRequest("%s must be at most %d bytes", field, MaxPasswordBytes)
	}
	return nil
}

// normalizeName trims the display name and defaults it to the slug: old clients send none.
func normalizeName(name, slug string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return slug, nil
	}
	if utf8.RuneCountInString(name) > maxNameLen {
		return "", apierr.BadRequest("name is longer than %d characters", maxNameLen)
	}
	return name, nil
}

// newID returns prefix plus 12 base62 characters from crypto/rand (about 71 bits).
func newID(prefix string) string { return randid.New(prefix, 12) }
