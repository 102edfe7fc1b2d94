// Package api holds the wire types and route paths of the oo HTTP API. It is shared by the
// server, the Go client, the SDK and the CLI, and imports only the standard library so that any
// of them can depend on it without pulling in the others.
//
// The types are a wire-compatible subset of the public 1Backend/OpenOrch API: field names are
// camelCase JSON, times are RFC 3339, errors are {"error": "..."}.
package api

import "time"

// Role ids carried in the token's roles claim (ClaimRoles).
const (
	RoleUser  = "user-svc:user"
	RoleAdmin = "user-svc:admin"
)

// ErrorResponse is the body of every non-2xx JSON response.
type ErrorResponse struct {
	Error string `json:"error"`
}

// AuthToken is a bearer token and its metadata. Token holds the JWT to send as
// "Authorization: Bearer <token>".
type AuthToken struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	Token     string    `json:"token"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	ExpiresAt time.Time `json:"expiresAt,omitempty"`
}

// Contact is an optional way to reach a user (for example an email address).
type Contact struct {
	ID       string `json:"id,omitempty"`
	Platform string `json:"platform,omitempty"`
	Handle   string `json:"handle,omitempty"`
	// Value is what the upstream API of the reference documents calls the handle; the server
	// reads it into Handle and never sends it.
	Value string `json:"value,omitempty"`
}

// User is an account. It never carries a password or its hash.
type User struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Contacts  []Contact `json:"contacts,omitempty"`
	// Roles is an oo extension; old clients ignore it.
	Roles []string `json:"roles,omitempty"`
}

// RegisterRequest creates an account and returns a token for it.
type RegisterRequest struct {
	Slug     string   `json:"slug"`
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Contact  *Contact `json:"contact,omitempty"`
}

// RegisterResponse is also the shape of the login and refresh responses.
type RegisterResponse struct {
	Token AuthToken `json:"token"`
}

type LoginRequest struct {
	Slug     string `json:"slug"`
	Password string `json:"password"`
}

type LoginResponse = RegisterResponse

type RefreshTokenResponse = RegisterResponse

type PublicKeyResponse struct {
	PublicKey string `json:"publicKey"`
}

type ReadUserByTokenResponse struct {
	User                 User     `json:"user"`
	Organizations        []string `json:"organizations"`
	ActiveOrganizationID string   `json:"activeOrganizationId"`
	// Roles and ExpiresAt are oo extensions describing the presented token.
	Roles     []string  `json:"roles,omitempty"`
	ExpiresAt time.Time `json:"expiresAt,omitempty"`
}

type ListUsersQuery struct {
	Limit int `json:"limit,omitempty"`
}

type ListUsersRequest struct {
	Query *ListUsersQuery `json:"query,omitempty"`
}

type ListUsersResponse struct {
	Users []User `json:"users"`
	Count int    `json:"count"`
}

// CreateUserRequest is the admin's way to make an account (the only way when registration is
// closed). Roles defaults to [RoleUser].
type CreateUserRequest struct {
	Slug     string   `json:"slug"`
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Roles    []string `json:"roles,omitempty"`
	// User and RoleIDs are the upstream form of the same request ({"user": {"slug", "name"},
	// "password", "roleIds"}); the server accepts either.
	User    *CreateUserFields `json:"user,omitempty"`
	RoleIDs []string          `json:"roleIds,omitempty"`
}

// CreateUserFields is the "user" object of the upstream CreateUser request.
type CreateUserFields struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// Flat returns the request in oo's flat form, taking the upstream fields where the flat ones
// are empty.
func (r CreateUserRequest) Flat() CreateUserRequest {
	if r.User != nil {
		if r.Slug == "" {
			r.Slug = r.User.Slug
		}
		if r.Name == "" {
			r.Name = r.User.Name
		}
	}
	if len(r.Roles) == 0 {
		r.Roles = r.RoleIDs
	}
	r.User, r.RoleIDs = nil, nil
	return r
}

type CreateUserResponse struct {
	User User `json:"user"`
}

type ChangePasswordRequest struct {
	Slug            string `json:"slug,omitempty"`
	CurrentPassword string `json:"currentPassword"`
	NewPassword     string `json:"newPassword"`
}

// Empty is the body of a 2xx response that carries no data: {}.
type Empty struct{}

// InstanceStatus is the health of an instance. Clients reject any value outside this enum.
type InstanceStatus string

const (
	StatusUnknown     InstanceStatus = "Unknown"
	StatusHealthy     InstanceStatus = "Healthy"
	StatusDegraded    InstanceStatus = "Degraded"
	StatusUnreachable InstanceStatus = "Unreachable"
	StatusError       InstanceStatus = "Error"
)

// Instance is one running copy of a service, reachable at URL and owned by Slug, with oo's
// extensions. It is what oo's own clients ask for (see PreferExtras); every other client gets
// Upstream(). A field added here is therefore an extension by default: it reaches only clients
// that asked for it, and upstream clients never see a key they would refuse.
type Instance struct {
	ID            string         `json:"id"`
	URL           string         `json:"url"`
	Status        InstanceStatus `json:"status"`
	Slug          string         `json:"slug,omitempty"`
	LastHeartbeat *time.Time     `json:"lastHeartbeat,omitempty"`
	DeploymentID  string         `json:"deploymentId,omitempty"`
	NodeURL       string         `json:"nodeUrl,omitempty"`
	Scheme        string         `json:"scheme,omitempty"`
	Host          string         `json:"host,omitempty"`
	IP            string         `json:"ip,omitempty"`
	Port          int            `json:"port,omitempty"`
	Path          string         `json:"path,omitempty"`
	Details       string         `json:"details,omitempty"`
	Tags          []string       `json:"tags,omitempty"`
	// oo extensions.
	HealthPath   string    `json:"healthPath,omitempty"`
	HeartbeatTTL string    `json:"heartbeatTtl,omitempty"`
	CreatedAt    time.Time `json:"createdAt,omitempty"`
	// LastSeen is when a health probe last got an answer in time; lastHeartbeat is only ever
	// what the instance itself sent.
	LastSeen *time.Time        `json:"lastSeen,omitempty"`
	Meta     map[string]string `json:"meta,omitempty"`
}

// UpstreamInstance is the upstream RegistrySvcInstance model, key for key. The upstream
// generated clients decode it strictly: id, status and url must be present and any other key
// fails the whole call, so this is what the server sends unless the client asked for extras.
type UpstreamInstance struct {
	ID            string         `json:"id"`
	URL           string         `json:"url"`
	Status        InstanceStatus `json:"status"`
	Slug          string         `json:"slug,omitempty"`
	LastHeartbeat *time.Time     `json:"lastHeartbeat,omitempty"`
	DeploymentID  string         `json:"deploymentId,omitempty"`
	NodeURL       string         `json:"nodeUrl,omitempty"`
	Scheme        string         `json:"scheme,omitempty"`
	Host          string         `json:"host,omitempty"`
	IP            string         `json:"ip,omitempty"`
	Port          int            `json:"port,omitempty"`
	Path          string         `json:"path,omitempty"`
	Details       string         `json:"details,omitempty"`
	Tags          []string       `json:"tags,omitempty"`
}

// Upstream is in without oo's extensions.
func (in Instance) Upstream() UpstreamInstance {
	return UpstreamInstance{
		ID: in.ID, URL: in.URL, Status: in.Status, Slug: in.Slug, LastHeartbeat: in.LastHeartbeat,
		DeploymentID: in.DeploymentID, NodeURL: in.NodeURL, Scheme: in.Scheme, Host: in.Host,
		IP: in.IP, Port: in.Port, Path: in.Path, Details: in.Details, Tags: in.Tags,
	}
}

// UpstreamInstances converts a list for an upstream client; it is never nil, so the answer is
// "instances": [] rather than null.
func UpstreamInstances(list []Instance) []UpstreamInstance {
	out := make([]UpstreamInstance, len(list))
	for i, in := range list {
		out[i] = in.Upstream()
	}
	return out
}

// RegisterInstanceRequest registers or updates the instance at URL for the caller's slug.
// HealthPath and HeartbeatTTL (a Go duration such as "15s") are oo extensions.
type RegisterInstanceRequest struct {
	URL          string   `json:"url"`
	ID           string   `json:"id,omitempty"`
	DeploymentID string   `json:"deploymentId,omitempty"`
	Scheme       string   `json:"scheme,omitempty"`
	Host         string   `json:"host,omitempty"`
	IP           string   `json:"ip,omitempty"`
	Port         int      `json:"port,omitempty"`
	Path         string   `json:"path,omitempty"`
	HealthPath   string   `json:"healthPath,omitempty"`
	HeartbeatTTL string   `json:"heartbeatTtl,omitempty"`
	Tags         []string `json:"tags,omitempty"`
	// Slug lets an admin register an instance on behalf of another slug.
	Slug string `json:"slug,omitempty"`
}

// RegisterInstanceResponse is {} for wire compatibility plus the instance, an oo extension
// (the upstream model is a free-form object, so upstream clients ignore the key).
type RegisterInstanceResponse struct {
	Instance *Instance `json:"instance,omitempty"`
}

type ListInstancesResponse struct {
	Instances []Instance `json:"instances"`
	// NextCursor (oo) is sent only to a request that asked for a page (ParamLimit or
	// ParamCursor) when more instances remain: pass it as ParamCursor for the next page.
	NextCursor string `json:"nextCursor,omitempty"`
}

// The same answers in their upstream form, sent unless the client asked for extras.
type (
	UpstreamRegisterInstanceResponse struct {
		Instance *UpstreamInstance `json:"instance,omitempty"`
	}
	UpstreamListInstancesResponse struct {
		Instances  []UpstreamInstance `json:"instances"`
		NextCursor string             `json:"nextCursor,omitempty"` // never sent unless paging was asked for
	}
	UpstreamInstanceResponse struct {
		Instance UpstreamInstance `json:"instance"`
	}
)

// HeartbeatRequest optionally carries a TTL (Go duration): if no heartbeat follows within it the
// instance becomes Unreachable.
type HeartbeatRequest struct {
	TTL string `json:"ttl,omitempty"`
}

type HeartbeatResponse struct {
	Instance Instance `json:"instance"`
}
