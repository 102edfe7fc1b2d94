package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ooctl/oo/server/registry"
	"github.com/ooctl/oo/server/traffic"
)

// trafficCollector reads the proxy's traffic record when scraped: the proxy's hot path only
// adds to atomics (server/traffic) and never calls the client library.
type trafficCollector struct {
	rec *traffic.Recorder
	reg *registry.Registry
}

var (
	descRequests = prometheus.NewDesc("oo_proxy_requests_total",
		"Proxied requests to a routed slug by status class (1xx..5xx, aborted: the client went away before the answer) and method (other for any but the seven standard ones).",
		[]string{"slug", "code", "method"}, nil)
	descDuration = prometheus.NewDesc("oo_proxy_request_duration_seconds",
		"Time from a proxied request's head read to its answer's end, including retries.", []string{"slug"}, nil)
	descInFlight = prometheus.NewDesc("oo_proxy_requests_in_flight",
		"Proxied requests being served now.", []string{"slug"}, nil)
	descBytesIn = prometheus.NewDesc("oo_proxy_request_bytes_total",
		"Request body bytes forwarded from clients to instances.", []string{"slug"}, nil)
	descBytesOut = prometheus.NewDesc("oo_proxy_response_bytes_total",
		"Response body bytes sent to clients (the proxy's own error answers included).", []string{"slug"}, nil)
	descUpstream = prometheus.NewDesc("oo_proxy_upstream_errors_total",
		"Proxied requests that failed because of the instance, by kind: dial (no connection), timeout (no answer within --proxy-response-timeout), reset (the connection broke).",
		[]string{"slug", "kind"}, nil)
	descRetries = prometheus.NewDesc("oo_proxy_retries_total",
		"Extra attempts: a failed dial retried on another instance, a closed keep-alive connection replaced.", []string{"slug"}, nil)
	descInstRequests = prometheus.NewDesc("oo_instance_requests_total",
		"Proxied requests the instance answered (or was the last tried for) since this server started.", []string{"slug", "instance"}, nil)
	descInstErrors = prometheus.NewDesc("oo_instance_errors_total",
		"Of those, the requests that failed: answered 5xx or failed upstream.", []string{"slug", "instance"}, nil)
)

// ObserveTraffic adds the proxy's per-slug and per-instance figures from rec (nil: none, as
// with --metrics off); per-instance series exist for the instances reg holds.
func (m *Metrics) ObserveTraffic(rec *traffic.Recorder, reg *registry.Registry) {
	if rec != nil {
		m.reg.MustRegister(trafficCollector{rec, reg})
	}
}

func (trafficCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descDuration, descInFlight, descBytesIn, descBytesOut,
		descUpstream, descRetries, descInstRequests, descInstErrors} {
		ch <- d
	}
}

func (c trafficCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.rec.Counters()
	bySlug := make(map[string]*traffic.Counters, len(counts))
	for i := range counts {
		s := &counts[i]
		bySlug[s.Slug] = s
		for code, byMethod := range s.Requests {
			for method, n := range byMethod {
				if n > 0 { // 48 combinations per slug: only those that happened
					ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n),
						s.Slug, traffic.Codes[code], traffic.Methods[method])
				}
			}
		}
		buckets := make(map[float64]uint64, len(traffic.Buckets))
		var cum uint64
		for i, le := range traffic.Buckets {
			cum += s.Buckets[i]
			buckets[le] = cum
		}
		total := cum + s.Buckets[len(traffic.Buckets)]
		ch <- prometheus.MustNewConstHistogram(descDuration, total, s.DurationSum, buckets, s.Slug)
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(s.InFlight), s.Slug)
		ch <- prometheus.MustNewConstMetric(descBytesIn, prometheus.CounterValue, float64(s.BytesIn), s.Slug)
		ch <- prometheus.MustNewConstMetric(descBytesOut, prometheus.CounterValue, float64(s.BytesOut), s.Slug)
		for i, kind := range traffic.Failures {
			ch <- prometheus.MustNewConstMetric(descUpstream, prometheus.CounterValue, float64(s.Upstream[i]), s.Slug, kind.String())
		}
		ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(s.Retries), s.Slug)
	}
	// Instances the registry holds, at zero until they answer: a removed instance's series go
	// with it, as its status series do.
	for _, in := range c.reg.Stats().Instances {
		var n traffic.InstanceCounts
		if s := bySlug[in.Slug]; s != nil {
			n = s.Instances[in.ID]
		}
		ch <- prometheus.MustNewConstMetric(descInstRequests, prometheus.CounterValue, float64(n.Requests), in.Slug, in.ID)
		ch <- prometheus.MustNewConstMetric(descInstErrors, prometheus.CounterValue, float64(n.Errors), in.Slug, in.ID)
	}
}
