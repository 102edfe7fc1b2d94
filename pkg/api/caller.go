package api

// Verified caller identity. The proxy removes every incoming header whose name starts with
// CallerHeaderPrefix (case-insensitively, '_' read as '-', since some frameworks fold the two),
// and when the request carries a bearer token the server accepts (signature, expiry, not
// revoked) it adds these for the service. A service reached only through oo can trust them
// without verifying the token itself; their absence means no valid token was sent.
const (
	CallerHeaderPrefix = "X-Oo-Caller-"
	HeaderCallerSlug   = "X-Oo-Caller-Slug"    // the caller's account slug
	HeaderCallerUserID = "X-Oo-Caller-User-Id" // the caller's user id (usr_...)
	HeaderCallerRoles  = "X-Oo-Caller-Roles"   // comma-separated role ids, e.g. user-svc:user
)
