package httpapi

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/registry"
)

// registryRoutes registers the /registry-svc/ endpoints. Every one needs a token; what the
// caller may change is decided by the registry (owner or admin), and any caller may read.
func (a *API) registryRoutes(rt *router) {
	rt.handle(http.MethodPut, api.PathInstance, a.authed(a.registerInstance))
	rt.handle(http.MethodGet, api.PathInstances, a.authed(a.listInstances))
	rt.handle(http.MethodGet, api.PathInstance+"/{id}", a.authed(a.getInstance))
	rt.handle(http.MethodDelete, api.PathInstance+"/{id}", a.authed(a.deleteInstance))
	rt.handle(http.MethodPut, api.PathInstance+"/{id}"+api.HeartbeatSuffix, a.authed(a.heartbeat))
}

func (a *API) registerInstance(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var req api.RegisterInstanceRequest
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	inst, err := a.Registry.Register(p, req)
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	// 201 {} is the reference contract; the instance rides along (upstream clients ignore it).
	if extras(w, r) {
		WriteJSON(w, http.StatusCreated, api.RegisterInstanceResponse{Instance: &inst})
		return
	}
	up := inst.Upstream()
	WriteJSON(w, http.StatusCreated, api.UpstreamRegisterInstanceResponse{Instance: &up})
}

func (a *API) listInstances(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	q := r.URL.Query()
	pg, err := pageOf(q)
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	list, next, err := a.Registry.ListPage(registry.Filter{
		ID: q.Get("id"), Slug: q.Get("slug"), Scheme: q.Get("scheme"), Host: q.Get("host"), IP: q.Get("ip"),
		Path: q.Get("path"), DeploymentID: q.Get("deploymentId"),
	}, pg)
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	writeInstances(w, list, next, extras(w, r))
}

// writeInstances answers 200 with the list (api.ListInstancesResponse, or its upstream form)
// encoded one instance at a time as it is written: a registry of 10 000 instances is a 3 MB
// answer, which WriteJSON would build whole (and convert whole to the upstream form) first.
func writeInstances(w http.ResponseWriter, list []api.Instance, next string, extras bool) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // as WriteJSON
	bw.WriteString(`{"instances":[`)
	for i := range list {
		if i > 0 {
			bw.WriteByte(',')
		}
		if extras {
			_ = enc.Encode(&list[i])
		} else {
			_ = enc.Encode(list[i].Upstream())
		}
	}
	bw.WriteByte(']')
	if next != "" {
		bw.WriteString(`,"nextCursor":`)
		_ = enc.Encode(next)
	}
	bw.WriteString("}\n")
	_ = bw.Flush()
}

// pageOf reads the paging parameters. Without them the answer is the whole list, as upstream
// clients expect.
func pageOf(q url.Values) (registry.Page, error) {
	pg := registry.Page{Cursor: q.Get(api.ParamCursor)}
	if q.Has(api.ParamCursor) && pg.Cursor == "" {
		return pg, apierr.BadRequest("%s is empty; leave it out to start from the first instance", api.ParamCursor)
	}
	if s := q.Get(api.ParamLimit); q.Has(api.ParamLimit) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return pg, apierr.BadRequest("%s %q must be a whole number of at least 1", api.ParamLimit, s)
		}
		pg.Limit = n
	}
	return pg, nil
}

func (a *API) getInstance(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	inst, err := a.Registry.Get(r.PathValue("id"))
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	writeInstance(w, r, inst)
}

func (a *API) deleteInstance(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if err := a.Registry.Delete(p, r.PathValue("id")); err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) heartbeat(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var req api.HeartbeatRequest
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	inst, err := a.Registry.Heartbeat(p, r.PathValue("id"), req.TTL)
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	writeInstance(w, r, inst)
}

// writeInstance answers 200 {"instance": ...} in the form the client asked for.
func writeInstance(w http.ResponseWriter, r *http.Request, inst api.Instance) {
	if extras(w, r) {
		WriteJSON(w, http.StatusOK, api.HeartbeatResponse{Instance: inst})
		return
	}
	WriteJSON(w, http.StatusOK, api.UpstreamInstanceResponse{Instance: inst.Upstream()})
}

// extras reports whether the client asked for oo's extensions (see api.PreferExtras) and marks
// the answer accordingly: it varies with Prefer, and says when the preference was honoured.
func extras(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Add("Vary", api.HeaderPrefer)
	if !api.PrefersExtras(r.Header.Values(api.HeaderPrefer)) {
		return false
	}
	w.Header().Set(api.HeaderPreferenceApplied, api.PreferExtras)
	return true
}
