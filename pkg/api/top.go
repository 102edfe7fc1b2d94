package api

import "time"

// What `oo top` and the dashboard read (oo only).

const (
	// PathTop answers GET with a TopResponse: the traffic and health of every slug the caller
	// may see. With "Accept: text/event-stream" (or ParamStream=1) it streams one TopResponse
	// per TopInterval as server-sent events until the client goes.
	PathTop = "/proxy-svc/top"
	// ParamStream=1 asks PathTop for the stream when the client cannot set Accept.
	ParamStream = "stream"
	// TopInterval is how often the stream sends a snapshot.
	TopInterval = time.Second
	// TopWindow is the span the rates and percentiles of a TopResponse are computed over.
	TopWindow = 10 * time.Second
)

// TopResponse answers GET PathTop.
type TopResponse struct {
	Time time.Time `json:"time"`
	// Window is the span rates and percentiles cover, as a Go duration ("10s").
	Window string `json:"window"`
	// MetricsOff is true when the server records no traffic (`oo server start --metrics off`):
	// every rate, percentile and count is then 0, and only the instance counts tell anything.
	MetricsOff bool `json:"metricsOff,omitempty"`
	// Slugs are sorted by slug: every slug with instances, and any other that had traffic in
	// the window. An admin sees every slug; anyone else only their own.
	Slugs []SlugTop `json:"slugs"`
}

// SlugTop is one slug's traffic through the answering server and its instances' health.
type SlugTop struct {
	Slug string `json:"slug"`
	// RPS is requests per second over the window.
	RPS float64 `json:"rps"`
	// P50Ms and P99Ms are latency percentiles over the window, in milliseconds (0 without
	// requests).
	P50Ms float64 `json:"p50Ms"`
	P99Ms float64 `json:"p99Ms"`
	// ErrorRate is the fraction (0 to 1) of the window's requests answered 5xx or failed
	// upstream.
	ErrorRate float64 `json:"errorRate"`
	// InFlight is the requests being served now.
	InFlight int64 `json:"inFlight"`
	// Requests, Errors, BytesIn and BytesOut count since the answering server started.
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
	BytesIn  uint64 `json:"bytesIn"`
	BytesOut uint64 `json:"bytesOut"`
	// Healthy of Instances registered instances are Healthy now.
	Healthy   int `json:"healthy"`
	Instances int `json:"instances"`
}
