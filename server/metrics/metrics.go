// Package metrics owns what the server exposes to Prometheus on /metrics: the registry's state
// read at scrape time, the user service's login outcomes, the store's write latency, and the Go
// and process collectors. Exposition is client_golang's; nothing here formats text.
//
// Label values are bounded by what the server holds, never by what a request says: a slug and
// an instance id exist only once registered (and a slug's instances are capped by
// --max-instances), statuses and outcomes are fixed sets.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ooctl/oo/server/registry"
)

// Login outcomes, the values of oo_user_logins_total's outcome label.
const (
	LoginSuccess   = "success"
	LoginRejected  = "rejected"  // wrong slug or password (401)
	LoginInvalid   = "invalid"   // malformed request (400)
	LoginThrottled = "throttled" // refused by the failed-login limit (429)
	LoginError     = "error"     // anything else (the store failing)
)

// Throttle limits, the values of oo_user_throttled_requests_total's limit label.
const (
	LimitLoginAddress = "login_address" // failed logins per client address
	LimitLoginSlug    = "login_slug"    // failed logins per slug
)

// Metrics is the server's metrics registry. A nil *Metrics counts nothing, so components
// built without it (tests, metrics off) need no checks.
type Metrics struct {
	reg         *prometheus.Registry
	logins      *prometheus.CounterVec
	throttled   *prometheus.CounterVec
	storeWrites *prometheus.HistogramVec
}

// New builds the metrics of a server; ObserveRegistry adds the registry's once it exists (the
// store it is built on is wrapped by Store first).
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oo_user_logins_total",
			Help: "Login attempts by outcome: success, rejected (wrong slug or password), invalid, throttled, error.",
		}, []string{"outcome"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oo_user_throttled_requests_total",
			Help: "Requests refused with 429 by a limit: login_address (failed logins of one client address) or login_slug (of one slug).",
		}, []string{"limit"}),
		storeWrites: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "oo_store_write_duration_seconds",
			Help: "Time each committed store write took, by operation (a bbolt write includes its fsync).",
			// From a page-cache write to a slow disk's fsync or an etcd round trip.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op"}),
	}
	for _, o := range []string{LoginSuccess, LoginRejected, LoginInvalid, LoginThrottled, LoginError} {
		m.logins.WithLabelValues(o) // present at zero, so rate() works from the first scrape
	}
	for _, l := range []string{LimitLoginAddress, LimitLoginSlug} {
		m.throttled.WithLabelValues(l)
	}
	m.reg.MustRegister(m.logins, m.throttled, m.storeWrites,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveRegistry adds the state of r, read at each scrape.
func (m *Metrics) ObserveRegistry(r *registry.Registry) {
	m.reg.MustRegister(registryCollector{r})
}

// Register adds collectors owned elsewhere (the proxy's, for one).
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Handler serves the exposition. Errors of one collector are reported in the answer's log
// rather than failing the scrape, so one broken collector does not hide the others.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Gatherer is the registry behind Handler, for tests that read values.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Login counts one login attempt by outcome.
func (m *Metrics) Login(outcome string) {
	if m != nil {
		m.logins.WithLabelValues(outcome).Inc()
	}
}

// Throttled counts one request refused by limit.
func (m *Metrics) Throttled(limit string) {
	if m != nil {
		m.throttled.WithLabelValues(limit).Inc()
	}
}

// storeWrite records one store write of op that started at start.
func (m *Metrics) storeWrite(op string, start time.Time) {
	m.storeWrites.WithLabelValues(op).Observe(time.Since(start).Seconds())
}
