package user

import (
	"errors"
	"strings"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/store"
)

// Find returns the account named by ref: a user id (usr_…) or a slug. Slugs cannot contain
// '_', so the two never collide.
func (s *Service) Find(ref string) (api.User, error) {
	var u store.UserRecord
	var err error
	if strings.HasPrefix(ref, "usr_") {
		u, err = s.st.GetUser(ref)
	} else {
		u, err = s.st.GetUserBySlug(ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return api.User{}, apierr.NotFound("no account %q", ref)
	} else if err != nil {
		return api.User{}, err
	}
	return toAPIUser(u), nil
}

// Remove deletes the account with id and revokes every token it holds, at once: a request
// already in flight with one of them is the last. An admin cannot remove their own account
// (that would lock the caller out mid-task; another admin can).
func (s *Service) Remove(p auth.Principal, id string) error {
	if id == p.UserID {
		return apierr.BadRequest("you cannot remove your own account (%q); ask another admin", p.Slug)
	}
	defer s.lockWrites()()
	revoked, err := s.st.DeleteUser(id)
	if errors.Is(err, store.ErrNotFound) {
		return apierr.NotFound("no account with id %q", id)
	} else if err != nil {
		return err
	}
	s.deactivate(revoked...)
	return nil
}
