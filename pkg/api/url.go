package api

import (
	"net/url"
	"strings"
)

// SameInstanceURL reports whether two instance URLs name the same instance the way the registry
// decides it: by their canonical form (see ParseTargetURL), so http://localhost:8080 and
// http://[::ffff:127.0.0.1]:8080/ are http://127.0.0.1:8080. Clients use it to find their own
// instance in a listing.
func SameInstanceURL(a, b string) bool { return comparableURL(a) == comparableURL(b) }

func comparableURL(raw string) string {
	t, err := ParseTargetURL(raw)
	if err != nil {
		return strings.TrimRight(strings.ToLower(strings.TrimSpace(raw)), "/")
	}
	return t.Canonical
}

// PortOf is u's port: the one it names, else its scheme's default (80 for http, 443 for
// https, "" for any other scheme).
func PortOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}
