package api

import (
	"net/url"
	"strings"
)

// SameInstanceURL reports whether two instance URLs name the same address the way the registry
// compares them: scheme and host case-insensitive, the default port implied, a trailing slash
// ignored. Clients use it to find their own instance in a listing.
func SameInstanceURL(a, b string) bool { return comparableURL(a) == comparableURL(b) }

func comparableURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return strings.TrimRight(strings.ToLower(raw), "/")
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/")
}
