package registry

import (
	"strings"
	"time"

	"github.com/ooctl/oo/internal/randid"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
)

// resolveTimeout bounds the lookup of an instance's host name at registration. A name that does
// not resolve in time is accepted: every connection to it is checked again.
const resolveTimeout = 2 * time.Second

func notFound(id string) error { return apierr.NotFound("no instance with id %q", id) }

func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, apierr.BadRequest("ttl %q must be a positive duration such as 15s", s)
	}
	return d, nil
}

// newID returns an unused "inst_" + 10 base62 characters (about 59 bits) from crypto/rand.
func (r *Registry) newID() string {
	for {
		id := randid.New("inst_", 10)
		if _, taken := r.byID[id]; !taken {
			return id
		}
	}
}

func validID(id string) bool {
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

// MaxHealthPathLen bounds healthPath: it is stored, listed and requested on every probe.
const MaxHealthPathLen = 1024

// validHealthPath accepts "" (TCP probing) or an absolute path with an optional query. Control
// characters, spaces and '#' are refused here, where the client can be told, instead of failing
// every probe later (or, for CR/LF, trying to inject a header into them).
func validHealthPath(p string) error {
	if p == "" {
		return nil
	}
	if !strings.HasPrefix(p, "/") {
		return apierr.BadRequest("healthPath %q must start with /", p)
	}
	if len(p) > MaxHealthPathLen {
		return apierr.BadRequest("healthPath is %d bytes long; at most %d are allowed", len(p), MaxHealthPathLen)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f || c == '#' {
			return apierr.BadRequest("healthPath %q holds %q at byte %d; percent-encode spaces, and control characters and '#' have no place in a path", p, c, i)
		}
	}
	return nil
}

// validSlug is api.CheckSlug as a 400: an admin registering for a slug is held to the same rule
// as the account's registration.
func validSlug(slug string) error {
	if err := api.CheckSlug(slug); err != nil {
		return apierr.BadRequest("%s", err.Error())
	}
	return nil
}
