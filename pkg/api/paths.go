package api

import "strings"

// DefaultAddr is where `oo server start` listens and where clients look by default.
const (
	DefaultAddr = "127.0.0.1:58231"
	DefaultURL  = "http://" + DefaultAddr
)

// Route paths. Paths with an {id} take the instance id as the last segment.
const (
	PathRegister       = "/user-svc/register"
	PathLogin          = "/user-svc/login"
	PathPublicKey      = "/user-svc/public-key"
	PathUserByToken    = "/user-svc/user/by-token"
	PathUsers          = "/user-svc/users" // POST lists; DELETE {id} removes an account (admin)
	PathCreateUser     = "/user-svc/user"
	PathChangePassword = "/user-svc/change-password"
	PathRefreshToken   = "/user-svc/refresh-token"
	// PathToken with DELETE revokes the presented token (logout).
	PathToken = "/user-svc/token"

	PathInstance  = "/registry-svc/instance"  // PUT registers; DELETE {id}
	PathInstances = "/registry-svc/instances" // GET lists
	// PathInstances pages with these query parameters (oo): at most ParamLimit instances,
	// from after the ParamCursor that the previous page's NextCursor gave.
	ParamLimit  = "limit"
	ParamCursor = "cursor"
	// PathInstance + "/{id}/heartbeat" with PUT records a heartbeat.
	HeartbeatSuffix = "/heartbeat"

	PathHealthz = "/proxy-svc/healthz"
	// PathOpenAPI serves the OpenAPI 3.1 description of this API (docs/openapi.yaml).
	PathOpenAPI = "/proxy-svc/openapi.yaml"
)

// ReservedSlugs are first path segments the server uses itself; no account may take them.
var ReservedSlugs = map[string]bool{
	"user-svc":     true,
	"registry-svc": true,
	"proxy-svc":    true,
	"oo":           true,
	"api":          true,
	"healthz":      true,
	"metrics":      true,
	"debug":        true,
	"static":       true,
	"admin-svc":    true,
	"ui":           true, // the dashboard (server/ui)
}

// FirstSegment returns the first segment of an absolute URL path and whether it is reserved for
// the server's own API.
func FirstSegment(path string) (seg string, reserved bool) {
	seg = PathSlug(path)
	return seg, ReservedSlugs[seg]
}

// PathSlug is the first segment of an absolute URL path: the slug a proxied path addresses.
// It is the one implementation of the rule, for the server's dispatch and the proxy's routing
// alike. It does not allocate.
func PathSlug(path string) string {
	p := strings.TrimPrefix(path, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		p = p[:i]
	}
	return p
}

// InstancePath is the path of one instance, for DELETE.
func InstancePath(id string) string { return PathInstance + "/" + id }

// UserPath is the path of one account, for DELETE; ref is a user id or a slug.
func UserPath(ref string) string { return PathUsers + "/" + ref }

// RemoveInstancesParam, "true" on DELETE UserPath, also deregisters the account's instances;
// without it an account that owns instances is a 409.
const RemoveInstancesParam = "removeInstances"

// HeartbeatPath is the path to PUT a heartbeat for instance id.
func HeartbeatPath(id string) string { return PathInstance + "/" + id + HeartbeatSuffix }
