// Package httpapi is the server's HTTP surface: routing, JSON in and out, authentication, the
// access log, and the split between the API (reserved first path segments) and the proxy
// (every other first segment is a slug).
package httpapi

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/registry"
	"github.com/ooctl/oo/server/user"
)

// API serves the user and registry endpoints and hands everything else to Proxy.
type API struct {
	Users    *user.Service
	Registry *registry.Registry
	Proxy    http.Handler
	Log      *slog.Logger
}

// Handler returns the server's root handler.
func (a *API) Handler() http.Handler {
	rt := newRouter()
	a.userRoutes(rt)
	a.registryRoutes(rt)
	rt.handle(http.MethodGet, api.PathHealthz, func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	apiMux := rt.finish()

	proxy := a.Proxy
	if proxy == nil {
		proxy = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			WriteJSON(w, http.StatusNotFound, api.ErrorResponse{Error: "no such service"})
		})
	}
	// Dispatch on the first segment by hand: the proxy is the hot path and should not pay for
	// pattern matching meant for the API.
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, reserved := api.FirstSegment(r.URL.Path); reserved || r.URL.Path == "/" {
			apiMux.ServeHTTP(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	return withCommon(a.Log, root)
}

// authedFunc is a handler that runs only for a verified caller.
type authedFunc func(w http.ResponseWriter, r *http.Request, p auth.Principal)

// authed verifies the bearer token (signature, expiry, and that it was not revoked) before h.
func (a *API) authed(h authedFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Users.Authenticate(bearer(r))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="oo"`)
			WriteError(w, r, a.Log, err)
			return
		}
		h(w, r.WithContext(auth.WithPrincipal(r.Context(), p)), p)
	}
}

// admin is authed plus the admin role.
func (a *API) admin(h authedFunc) http.HandlerFunc {
	return a.authed(func(w http.ResponseWriter, r *http.Request, p auth.Principal) {
		if !p.IsAdmin() {
			WriteError(w, r, a.Log, apierr.Forbidden("this needs the %s role", api.RoleAdmin))
			return
		}
		h(w, r, p)
	})
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
