package api

import "strings"

// Asking for oo's extensions.
//
// By default every answer has exactly the upstream models' keys, because the upstream generated
// clients refuse unknown keys in some models (the instance) and a server cannot know which
// client it talks to. A client that understands oo's extensions (created time, heartbeat TTL,
// health path, ...) says so with the standard Prefer request header (RFC 7240), which exists
// for optional server behaviour:
//
//	Prefer: oo-extras
//
// A header rather than a query parameter: it works the same on every method and endpoint
// (PUT and DELETE included), does not mix with the list filters of the query string, and an
// upstream client never sends it by accident. The server answers a request it honoured with
// Preference-Applied: oo-extras, and with Vary: Prefer wherever the answer depends on it.
const (
	HeaderPrefer            = "Prefer"
	HeaderPreferenceApplied = "Preference-Applied"
	PreferExtras            = "oo-extras"
)

// PrefersExtras reports whether the values of the Prefer header ask for PreferExtras. Each
// value is a comma-separated list of preferences, each a token with optional "=value" and
// ";parameters"; tokens compare case-insensitively.
func PrefersExtras(prefer []string) bool {
	for _, v := range prefer {
		for _, p := range strings.Split(v, ",") {
			tok, _, _ := strings.Cut(p, ";")
			tok, _, _ = strings.Cut(tok, "=")
			if strings.EqualFold(strings.TrimSpace(tok), PreferExtras) {
				return true
			}
		}
	}
	return false
}
