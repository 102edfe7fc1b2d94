package api

import "strings"

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
