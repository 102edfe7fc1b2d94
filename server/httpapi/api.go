// Package httpapi is the server's HTTP surface: routing, JSON in and out, authentication, the
// access log, and the split between the API (reserved first path segments) and the proxy
// (every other first segment is a slug).
package httpapi

import (
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/ooctl/oo/docs"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/metrics"
	"github.com/ooctl/oo/server/registry"
	"github.com/ooctl/oo/server/throttle"
	"github.com/ooctl/oo/server/traffic"
	"github.com/ooctl/oo/server/ui"
	"github.com/ooctl/oo/server/user"
)

// API serves the user and registry endpoints and hands everything else to Proxy.
type API struct {
	Users    *user.Service
	Registry *registry.Registry
	Proxy    http.Handler
	Log      *slog.Logger
	// BodyTimeout bounds reading an API request's body (at most 1 MiB): a client that trickles
	// it would hold a connection for no reason. Proxied requests are exempt: their bodies may be
	// large and slow. Default 30s.
	BodyTimeout time.Duration
	// LoginLimit throttles failed logins per client address and per slug (429 with
	// Retry-After); nil allows any number.
	LoginLimit *throttle.Limiter
	// Replicas lists the running servers; nil answers an empty list.
	Replicas Replicas

	// Metrics is served on /metrics to whom MetricsAccess allows (one of MetricsModes; empty
	// is MetricsLocal); logins are counted into it. nil: /metrics answers 404.
	Metrics       *metrics.Metrics
	MetricsAccess string
	// Traffic is what the proxy served (oo top, oo logs, instance describe); nil with
	// --metrics off.
	Traffic *traffic.Recorder
	// Done, closed when the server starts shutting down, ends the answers that would stream
	// forever (the top stream; with --metrics off there is no recorder whose Done says so), so that a graceful shutdown does not wait for their clients.
	Done <-chan struct{}
	// StartedAt, StoreName and Version are reported by GET /proxy-svc/status.
	StartedAt time.Time
	StoreName string
	Version   string
}

// Handler returns the server's root handler.
func (a *API) Handler() http.Handler {
	apiMux := a.router().finish()

	proxy := a.Proxy
	if proxy == nil {
		proxy = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			WriteJSON(w, http.StatusNotFound, api.ErrorResponse{Error: "no such service"})
		})
	}
	bodyTimeout := a.BodyTimeout
	if bodyTimeout <= 0 {
		bodyTimeout = 30 * time.Second
	}
	dashboard := ui.Handler()
	// Dispatch on the first segment by hand: the proxy is the hot path and should not pay for
	// pattern matching meant for the API.
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reserved on the decoded path: a first segment that decodes to a reserved name
		// ("/user-svc%2flogin") never reaches the proxy, and the API's router, matching the
		// path as sent, answers it 404. The proxy routes on the segment as sent
		// (registry.SlugOf), where an escape names no slug.
		if seg, reserved := api.FirstSegment(r.URL.Path); reserved || r.URL.Path == "/" {
			if !isClean(r.URL.Path) {
				// ServeMux would answer with an HTML redirect, and /user-svc/../x would be
				// redirected out of the API to the proxy.
				WriteJSON(w, http.StatusNotFound, api.ErrorResponse{Error: "no such endpoint: " + r.URL.Path + " (paths may not contain //, . or ..)"})
				return
			}
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
			if seg == uiSegment {
				dashboard.ServeHTTP(w, r) // static files, not API routes: not in Routes
				return
			}
			apiMux.ServeHTTP(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	return withCommon(a.Log, root)
}

// uiSegment is the reserved first segment of the dashboard (server/ui).
var uiSegment = api.PathSlug(ui.Path)

// router registers every API route.
func (a *API) router() *router {
	rt := newRouter()
	a.userRoutes(rt)
	a.registryRoutes(rt)
	a.replicaRoutes(rt)
	a.observeRoutes(rt)
	a.logsRoutes(rt)
	rt.handle(http.MethodGet, api.PathHealthz, func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	rt.handle(http.MethodGet, api.PathOpenAPI, serveOpenAPI)
	return rt
}

// Routes lists every API route as "METHOD /pattern" (ServeMux patterns, which use OpenAPI's
// {name} syntax), sorted, so a test can hold docs/openapi.yaml to what the server serves.
func Routes() []string { return (&API{}).router().routes() }

// serveOpenAPI answers with docs/openapi.yaml; application/yaml is its media type (RFC 9512).
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(docs.OpenAPI)
}

// isClean reports whether p is already in canonical form (a trailing slash allowed).
func isClean(p string) bool {
	c := path.Clean(p)
	return c == p || (strings.HasSuffix(p, "/") && c+"/" == p)
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
		h(w, r, p)
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

func bearer(r *http.Request) string { return auth.BearerToken(r.Header.Get("Authorization")) }
