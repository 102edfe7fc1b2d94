package user

import (
	"crypto/rand"
	"strings"
	"unicode/utf8"

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

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns prefix plus 12 base62 characters from crypto/rand (about 71 bits).
func newID(prefix string) string {
	return prefix + randomBase62(12)
}

// randomBase62 rejects bytes >= 248 (the largest multiple of 62 that fits in a byte) so that
// every character is equally likely.
func randomBase62(n int) string {
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails on supported platforms
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			out = append(out, base62[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out)
}
