package api

import (
	"fmt"
	"strings"
	"time"
)

// CheckedRegistration is what CheckRegistration read from a request: the target in canonical
// form and the heartbeat TTL (0 for none).
type CheckedRegistration struct {
	Target TargetURL
	TTL    time.Duration
}

// FieldError refuses a request for one of its fields, named as on the wire ("url",
// "healthPath", "heartbeatTtl", "id"). Message starts with that name, so a client can put its
// own name for the field (a CLI flag) in its place.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Message }

func fieldError(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// CheckRegistration is the one check of a registration's shape: what it refuses the server
// answers with 400, and a client may call it to fail before sending anything. Who may register
// what (ownership, admins, the quota, the server's target policy) only the server can decide.
func CheckRegistration(req RegisterInstanceRequest) (CheckedRegistration, error) {
	t, err := ParseTargetURL(req.URL)
	if err != nil {
		return CheckedRegistration{}, &FieldError{Field: "url", Message: err.Error()}
	}
	ttl, err := parseTTL("heartbeatTtl", req.HeartbeatTTL)
	if err != nil {
		return CheckedRegistration{}, err
	}
	if err := CheckHealthPath(req.HealthPath); err != nil {
		return CheckedRegistration{}, err
	}
	if req.ID != "" && !validInstanceID(req.ID) {
		return CheckedRegistration{}, fieldError("id", "id %q may hold only letters, digits, '_' and '-' (at most 64)", req.ID)
	}
	return CheckedRegistration{Target: t, TTL: ttl}, nil
}

// ParseHeartbeatTTL reads the ttl of a heartbeat: "" is none, anything else a positive Go
// duration such as "15s".
func ParseHeartbeatTTL(s string) (time.Duration, error) { return parseTTL("ttl", s) }

func parseTTL(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fieldError(field, "%s %q must be a positive duration such as 15s", field, s)
	}
	return d, nil
}

// MaxHealthPathLen bounds healthPath: it is stored, listed and requested on every probe.
const MaxHealthPathLen = 1024

// CheckHealthPath accepts "" (TCP probing) or an absolute path with an optional query. Control
// characters, spaces and '#' are refused at registration, where the client can be told, instead
// of failing every probe later (or, for CR/LF, trying to inject a header into them).
func CheckHealthPath(p string) error {
	if p == "" {
		return nil
	}
	if !strings.HasPrefix(p, "/") {
		return fieldError("healthPath", "healthPath %q must start with /, e.g. /%s", p, strings.TrimLeft(p, "/"))
	}
	if len(p) > MaxHealthPathLen {
		return fieldError("healthPath", "healthPath is %d bytes long; at most %d are allowed", len(p), MaxHealthPathLen)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f || c == '#' {
			return fieldError("healthPath", "healthPath %q holds %q at byte %d; percent-encode spaces, and control characters and '#' have no place in a path", p, c, i)
		}
	}
	return nil
}

// validInstanceID: an id a client chooses is at most 64 letters, digits, '_' and '-'.
func validInstanceID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
