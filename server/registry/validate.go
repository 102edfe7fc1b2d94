package registry

import (
	"time"

	"github.com/ooctl/oo/internal/randid"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
)

// resolveTimeout bounds the lookup of an instance's host name at registration. A name that does
// not resolve in time is accepted: every connection to it is checked again.
const resolveTimeout = 2 * time.Second

func notFound(id string) error { return apierr.NotFound("no instance with id %q", id) }

// checkRegistration is api.CheckRegistration, the one check of a registration's shape, as a 400.
func checkRegistration(req api.RegisterInstanceRequest) (api.CheckedRegistration, error) {
	c, err := api.CheckRegistration(req)
	if err != nil {
		return c, apierr.BadRequest("%s", err.Error())
	}
	return c, nil
}

// parseTTL is api.ParseHeartbeatTTL as a 400.
func parseTTL(s string) (time.Duration, error) {
	d, err := api.ParseHeartbeatTTL(s)
	if err != nil {
		return 0, apierr.BadRequest("%s", err.Error())
	}
	return d, nil
}

// newID returns an unused "inst_" + the time in 7 base62 characters + 10 base62 characters
// (about 59 bits) from crypto/rand. Ids drawn later sort after earlier ones, so the bbolt
// store, keyed by id, appends a group commit's new instances to its last leaf pages; random
// ids made each write of a group dirty its own leaf, and a commit wrote more pages the more
// instances the file held (issue 12).
func (r *Registry) newID() string {
	for {
		id := randid.Timed("inst_", time.Now(), 10)
		if _, taken := r.byID[id]; !taken {
			return id
		}
	}
}

// validSlug is api.CheckSlug as a 400: an admin registering for a slug is held to the same rule
// as the account's registration.
func validSlug(slug string) error {
	if err := api.CheckSlug(slug); err != nil {
		return apierr.BadRequest("%s", err.Error())
	}
	return nil
}
