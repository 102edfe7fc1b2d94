package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/registry"
)

// removeUser deletes an account (admin). An account that owns instances is a 409 unless
// removeInstances=true: routes would otherwise outlive the only account allowed to change them.
// The account goes first, revoking its tokens, so its service cannot register anything new
// while its instances are being removed.
func (a *API) removeUser(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	removeInstances, err := boolParam(r, api.RemoveInstancesParam)
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	u, err := a.Users.Find(r.PathValue("id"))
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	owned := a.Registry.List(registry.Filter{Slug: u.Slug})
	if len(owned) > 0 && !removeInstances {
		WriteError(w, r, a.Log, apierr.Conflict("%q owns %d instance(s); remove them first, or pass %s=true to remove them with the account (oo user rm --remove-instances)", u.Slug, len(owned), api.RemoveInstancesParam))
		return
	}
	if err := a.Users.Remove(p, u.ID); err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	if removeInstances {
		// Listed again: one may have been registered between the check and the revocation.
		for _, in := range a.Registry.List(registry.Filter{Slug: u.Slug}) {
			if err := a.Registry.Delete(p, in.ID); err != nil && apierr.Status(err) != http.StatusNotFound {
				WriteError(w, r, a.Log, fmt.Errorf("account %q removed, but instance %s: %w", u.Slug, in.ID, err))
				return
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, apierr.BadRequest("%s must be true or false, not %q", name, v)
	}
	return b, nil
}
