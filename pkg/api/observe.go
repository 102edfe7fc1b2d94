package api

import "time"

// What the server tells about itself and its instances beyond the upstream API (oo only).

const (
	// PathMetrics serves Prometheus metrics (text exposition format); who may read it is set by
	// `oo server start --metrics`.
	PathMetrics = "/metrics"
	// PathServerStatus answers GET with a ServerStatus (any authenticated caller).
	PathServerStatus = "/proxy-svc/status"
	// PathInstance + "/{id}" + TransitionsSuffix answers GET with an InstanceTransitions.
	TransitionsSuffix = "/transitions"
	// PathLogs + "/{slug}" follows the requests proxied to one slug: Server-Sent Events, one
	// LogEvent per request (see LogsPath).
	PathLogs = "/proxy-svc/logs"
	// LogsDroppedEvent is the SSE event type that carries a LogsDropped: the follower was too
	// slow and the server skipped requests rather than slow the proxy down.
	LogsDroppedEvent = "dropped"
)

// LogsPath is where the requests to slug are followed.
func LogsPath(slug string) string { return PathLogs + "/" + slug }

// LogEvent is one request the proxy served to a slug, sent when it ended.
type LogEvent struct {
	Time       time.Time `json:"time"` // when the request arrived
	Method     string    `json:"method"`
	Path       string    `json:"path"`   // as the client sent it, without the query string
	Status     int       `json:"status"` // sent to the client; 0 when the exchange was cut off
	DurationMs float64   `json:"durationMs"`
	// Instance is the id of the instance that answered; empty when none was reached.
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"requestId"`
	// Caller is the slug of the bearer token the request carried, when it was valid.
	Caller   string `json:"caller,omitempty"`
	BytesIn  int64  `json:"bytesIn"`
	BytesOut int64  `json:"bytesOut"`
	// Upstream names what went wrong with the backend: "dial", "timeout" or "reset".
	Upstream string `json:"upstream,omitempty"`
}

// LogsDropped is the data of a LogsDroppedEvent: how many requests this stream has skipped
// since it started, because its reader did not keep up.
type LogsDropped struct {
	Dropped uint64 `json:"dropped"`
}

// TransitionsPath is where the recent status changes of instance id are read.
func TransitionsPath(id string) string { return PathInstance + "/" + id + TransitionsSuffix }

// InstanceTransition is one change of an instance's status as the answering server saw it.
type InstanceTransition struct {
	At   time.Time      `json:"at"`
	From InstanceStatus `json:"from"`
	To   InstanceStatus `json:"to"`
	// Reason is what made the status change ("probe", "heartbeat", "heartbeat TTL expired",
	// "proxy could not connect"); empty when the change came with a registration or, on a
	// replica that does not probe, from the shared store.
	Reason string `json:"reason,omitempty"`
	// Details is why the instance was failing then (a probe's error), empty when it passed.
	Details string `json:"details,omitempty"`
}

// InstanceTransitions answers GET TransitionsPath(id): the last few changes, oldest first,
// and how many there were since this server loaded the instance (more than listed when old
// ones were dropped).
type InstanceTransitions struct {
	Transitions []InstanceTransition `json:"transitions"`
	Total       uint64               `json:"total"`
	// Traffic is what the answering server's proxy sent to the instance since it started;
	// absent when it records nothing (--metrics off).
	Traffic *InstanceTraffic `json:"traffic,omitempty"`
}

// InstanceTraffic counts the proxied requests an instance answered (or was the last tried
// for), and of those the ones that failed: answered 5xx, or the connection to it failed
// (dial, timeout, reset).
type InstanceTraffic struct {
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
}

// ServerStatus answers GET PathServerStatus.
type ServerStatus struct {
	Version   string    `json:"version"`
	StartedAt time.Time `json:"startedAt"`
	// UptimeSeconds is how long the server has been running, whole seconds.
	UptimeSeconds int64 `json:"uptimeSeconds"`
	// Store names where state is kept: a bbolt file path, or etcd endpoints and prefix.
	Store string `json:"store"`
	Users int    `json:"users"`
	Slugs int    `json:"slugs"`
	// Instances counts instances by status; every status is present, zero included.
	Instances map[InstanceStatus]int `json:"instances"`
	Probing   ProbingStatus          `json:"probing"`
	// Metrics is who may read PathMetrics: "local", "open", "admin" or "off".
	Metrics string `json:"metrics"`
}

// ProbingStatus says whether instances are health-checked, and by this server.
type ProbingStatus struct {
	Enabled bool `json:"enabled"`
	// Here is false on a replica sharing its store with others when another one probes.
	Here            bool    `json:"here"`
	IntervalSeconds float64 `json:"intervalSeconds"`
}

// Statuses lists every InstanceStatus, in the order people read them.
var Statuses = []InstanceStatus{StatusHealthy, StatusDegraded, StatusUnknown, StatusUnreachable, StatusError}
