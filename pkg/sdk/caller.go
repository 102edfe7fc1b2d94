package sdk

import (
	"net/http"
	"strings"

	"github.com/ooctl/oo/pkg/api"
)

// ProxiedCaller returns who called, as the oo server verified it, for a request that came
// through the oo proxy: the proxy checks the bearer token (signature, expiry and revocation,
// which an offline Verifier cannot see) and passes the result in the X-Oo-Caller-* headers,
// after removing any copies the client sent. ok is false when the request carried no valid
// token. Caller.Token is the request's bearer token, to pass on; TokenID and ExpiresAt are
// not sent and stay empty.
//
// Trust these headers only when the service cannot be reached except through oo (it listens on
// loopback only, the default for a loopback SELF_URL): anyone who can connect to it directly can
// write them. Otherwise verify the token itself with a Verifier.
func ProxiedCaller(r *http.Request) (*Caller, bool) {
	slug := r.Header.Get(api.HeaderCallerSlug)
	userID := r.Header.Get(api.HeaderCallerUserID)
	if slug == "" || userID == "" {
		return nil, false
	}
	var roles []string
	for _, role := range strings.Split(r.Header.Get(api.HeaderCallerRoles), ",") {
		if role = strings.TrimSpace(role); role != "" {
			roles = append(roles, role)
		}
	}
	return &Caller{UserID: userID, Slug: slug, Roles: roles, Token: BearerToken(r)}, true
}
