package httpapi

import (
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/auth"
)

// Who may read /metrics (API.MetricsAccess, `oo server start --metrics`).
const (
	// MetricsLocal: clients on this machine (a loopback address) without a token, anyone
	// else with an admin token. The default: a local Prometheus or curl needs no setup, and
	// a server reachable from the network does not tell it the names of every slug and
	// instance.
	MetricsLocal = "local"
	MetricsOpen  = "open"  // anyone who can reach the server
	MetricsAdmin = "admin" // an admin token, from anywhere
	MetricsOff   = "off"   // 404, as if there were no such endpoint
)

// MetricsModes lists the valid values of MetricsAccess, for flag validation.
var MetricsModes = []string{MetricsLocal, MetricsOpen, MetricsAdmin, MetricsOff}

// observeRoutes registers what tells about the server itself.
func (a *API) observeRoutes(rt *router) {
	if a.metricsAccess() != MetricsOff {
		rt.handle(http.MethodGet, api.PathMetrics, a.metrics)
	}
	rt.handle(http.MethodGet, api.PathServerStatus, a.authed(a.serverStatus))
	rt.handle(http.MethodGet, api.PathTop, a.authed(a.top))
	rt.handle(http.MethodGet, api.PathInstance+"/{id}"+api.TransitionsSuffix, a.authed(a.transitions))
}

func (a *API) metricsAccess() string {
	if a.MetricsAccess == "" {
		return MetricsLocal
	}
	return a.MetricsAccess
}

// metrics serves the Prometheus exposition to whoever MetricsAccess lets in.
func (a *API) metrics(w http.ResponseWriter, r *http.Request) {
	h := http.NotFoundHandler()
	if a.Metrics != nil {
		h = a.Metrics.Handler()
	}
	switch mode := a.metricsAccess(); {
	case mode == MetricsOpen, mode == MetricsLocal && fromLoopback(r):
		h.ServeHTTP(w, r)
	default:
		a.admin(func(w http.ResponseWriter, r *http.Request, _ auth.Principal) { h.ServeHTTP(w, r) })(w, r)
	}
}

// fromLoopback reports whether the request came over a loopback connection. RemoteAddr is
// the peer of the TCP connection; forwarding headers are not believed.
func fromLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// serverStatus answers what `oo server status` shows. Any authenticated caller may read it:
// counts and settings, nothing that names an account or an instance.
func (a *API) serverStatus(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	users, err := a.Users.ListUsers(1)
	if err != nil {
		WriteError(w, r, a.Log, fmt.Errorf("counting users: %w", err))
		return
	}
	st := a.Registry.Stats()
	byStatus := make(map[api.InstanceStatus]int, len(api.Statuses))
	for _, s := range api.Statuses {
		byStatus[s] = 0
	}
	for _, in := range st.Instances {
		byStatus[in.Status]++
	}
	started := a.StartedAt
	if started.IsZero() {
		started = time.Now()
	}
	WriteJSON(w, http.StatusOK, api.ServerStatus{
		Version:       a.Version,
		StartedAt:     started.UTC().Truncate(time.Second),
		UptimeSeconds: int64(time.Since(started).Seconds()),
		Store:         a.StoreName,
		Users:         users.Count,
		Slugs:         st.Slugs,
		Instances:     byStatus,
		Probing: api.ProbingStatus{
			Enabled:         st.Probing,
			Here:            st.ProbingHere,
			IntervalSeconds: st.ProbeInterval.Seconds(),
		},
		Metrics: a.metricsAccess(),
	})
}

// transitions answers the recent status changes of one instance and the requests the proxy sent
// it. Any authenticated caller may read them, as they may read the instance.
func (a *API) transitions(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	id := r.PathValue("id")
	list, total, err := a.Registry.Transitions(id)
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	rsp := api.InstanceTransitions{Transitions: list, Total: total}
	if a.Traffic != nil {
		n := a.Traffic.Instance(id)
		rsp.Traffic = &api.InstanceTraffic{Requests: n.Requests, Errors: n.Errors}
	}
	WriteJSON(w, http.StatusOK, rsp)
}
