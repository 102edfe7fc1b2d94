// Package proxy routes SERVER/<slug>/<rest> to a healthy instance owned by <slug>.
//
// It is the hot path. A request costs one atomic load of the registry's immutable route table,
// a map lookup and a round-robin counter increment; nothing on the way takes a lock shared with
// writers, reads the store or makes an internal call. Path and query are forwarded exactly as
// received; bodies are streamed both ways; upgrades (WebSocket) are tunnelled.
//
// There are two data paths. FastServer (fast.go) reads every connection first and forwards
// plain HTTP/1.1 requests itself, on the goroutine that read them, with no allocation; Proxy's
// ServeHTTP (httputil.ReverseProxy) serves, through net/http, everything the fast path hands
// over. Both give the same answers; FuzzProxyPathsAgree holds them to it.
package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ooctl/oo/internal/randid"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/egress"
	"github.com/ooctl/oo/server/registry"
	"github.com/ooctl/oo/server/traffic"
)

// Options tune the proxy. Zero values mean the defaults.
type Options struct {
	Logger *slog.Logger

	DialTimeout           time.Duration // default 5s
	ResponseHeaderTimeout time.Duration // wait for a backend's response headers; default 0 (no limit: long polls are legitimate)
	IdleConnTimeout       time.Duration // keep-alive connections to backends; default 90s
	MaxIdleConnsPerHost   int           // default 256
	// Identity verifies the bearer token of a proxied request so that the service can be told
	// who is calling (api.HeaderCallerSlug and its siblings). nil: no identity headers are
	// added, though incoming ones are still removed.
	Identity Authenticator
	// Targets is the outbound policy, checked on every connection to an instance (a name may
	// resolve elsewhere than it did at registration). nil refuses only egress.Builtin.
	Targets *egress.Policy
	// RetryAfter is the Retry-After header (seconds) of a 503 for a slug with no routable
	// instance; default 1, about how long a restarting service takes to be probed healthy.
	RetryAfter int
	// BodyIdleTimeout ends a proxied request whose body stops arriving: no byte for this long
	// is a 408 and the connection is closed. A body that keeps flowing is never cut, however
	// long it takes. Zero means no limit (Config and the CLI default it to 60s).
	BodyIdleTimeout time.Duration
	// Traffic is told of every routed request (Begin and End, on both data paths). nil
	// records nothing (the server's --metrics off).
	Traffic *traffic.Recorder
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = 90 * time.Second
	}
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = 256
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 1
	}
}

// Authenticator verifies a bearer token; the user service's Authenticate, which answers from
// memory.
type Authenticator interface {
	Authenticate(token string) (auth.Principal, error)
}

// Proxy is the reverse proxy. It is an http.Handler.
type Proxy struct {
	reg        *registry.Registry
	log        *slog.Logger
	identity   Authenticator
	rp         *httputil.ReverseProxy
	transport  *http.Transport
	retryAfter string
	// via is this proxy's Via entry (RFC 9110 §7.6.3) with a pseudonym random per process, so
	// that a request arriving back at the proxy it left is recognised: an instance URL that
	// points at the server itself would otherwise make every request re-enter the proxy until
	// memory runs out. viaHdr is the header value when the client sent no Via, shared by every
	// request; it is capped at length 1 so that an Add reallocates instead of writing into it.
	via    string
	viaHdr []string
	// bodyIdle is Options.BodyIdleTimeout.
	bodyIdle time.Duration
	traffic  *traffic.Recorder
	// The fast path's own connections to backends (see fast.go): how it dials, the idle pool
	// its client connections leave theirs in, and Options.ResponseHeaderTimeout.
	dial egress.DialFunc
	idle idlePool
	rht  time.Duration
}

// New returns a proxy routing by reg's route table.
func New(reg *registry.Registry, opts Options) *Proxy {
	opts.defaults()
	p := &Proxy{reg: reg, log: opts.Logger, identity: opts.Identity, retryAfter: strconv.Itoa(opts.RetryAfter), bodyIdle: opts.BodyIdleTimeout,
		traffic: opts.Traffic}
	p.via = "1.1 oo-" + randid.Hex(6)
	p.viaHdr = []string{p.via}[0:1:1]
	dial := opts.Targets.Dialer(net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second})
	p.dial, p.rht = dial, opts.ResponseHeaderTimeout
	p.idle = idlePool{max: opts.MaxIdleConnsPerHost, ttl: opts.IdleConnTimeout}
	p.transport = &http.Transport{
		// Never an environment proxy: backends are registered addresses, often loopback.
		Proxy:                 nil,
		DialContext:           dial,
		MaxIdleConns:          0, // no global cap; the per-host cap bounds it
		MaxIdleConnsPerHost:   opts.MaxIdleConnsPerHost,
		IdleConnTimeout:       opts.IdleConnTimeout,
		ResponseHeaderTimeout: opts.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		// A proxy passes Accept-Encoding through and must not decompress what it relays.
		DisableCompression: true,
		// The 4 KB defaults would save 56 KB per idle backend connection, but measured no cheaper
		// per request (connections are reused), so the buffers stay as measured in
		// docs/benchmarks.md until a memory-focused run decides.
		ReadBufferSize:  32 << 10,
		WriteBufferSize: 32 << 10,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      p.rewrite,
		Transport:    (*retrier)(p),
		BufferPool:   bufferPool{},
		ErrorHandler: p.errorHandler,
		// FlushInterval 0: ReverseProxy already flushes at once for text/event-stream and for
		// responses of unknown length, which covers streams; buffering the rest saves syscalls.
	}
	return p
}

// Close drops idle keep-alive connections to backends.
func (p *Proxy) Close() {
	p.transport.CloseIdleConnections()
	p.idle.closeAll()
}

// ServeHTTP answers 404 for a slug nobody registered and 503 for one with no routable instance;
// everything else goes to the backend.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	slug := registry.SlugOf(r.URL)
	if v := r.Header["Via"]; len(v) > 0 && p.cameBack(v) {
		writeError(w, http.StatusLoopDetected, "loop: an instance of \""+slug+"\" sends requests back to this oo server; "+
			"remove it (oo instance ls --slug "+slug+", then oo instance rm ID) and register the service's own URL")
		return
	}
	rt := p.reg.Table().Lookup(slug)
	if rt == nil {
		writeError(w, http.StatusNotFound, "no service is registered under the slug \""+slug+"\"")
		return
	}
	tr := p.track(w, r, rt, slug)
	defer func() {
		if v := recover(); v != nil {
			// ReverseProxy gave up on a response body mid-way (http.ErrAbortHandler).
			tr.cut = true
			p.finish(tr, w)
			panic(v)
		}
		p.finish(tr, w)
	}()
	if !rt.Routable() {
		p.unavailable(tr, slug)
		return
	}
	// The route checked here is the one rewrite picks from: the slug is parsed and the table
	// loaded once per request (the retrier looks again only after a failure, when the table
	// may have dropped the failed instance).
	r = r.WithContext(context.WithValue(r.Context(), routeKey{}, tr))
	if r.Body != nil && r.Body != http.NoBody {
		r = p.watchBody(tr, r)
	}
	// A proxy relays the representation as the backend describes it. Without a Content-Type
	// from the backend, net/http would sniff one from the first bytes; a nil value counts as
	// set and writes nothing (the fast path adds none either). A backend's own is added to it.
	tr.Header()["Content-Type"] = nil
	p.rp.ServeHTTP(tr, r)
}

func (p *Proxy) unavailable(w http.ResponseWriter, slug string) {
	w.Header().Set("Retry-After", p.retryAfter)
	writeError(w, http.StatusServiceUnavailable, "no healthy instance of \""+slug+"\" right now; try again shortly (oo instance ls shows their status)")
}

// cameBack reports whether this proxy already forwarded the request.
func (p *Proxy) cameBack(via []string) bool {
	for _, v := range via {
		if strings.Contains(v, p.via) {
			return true
		}
	}
	return false
}

// setVia adds this proxy to the outbound Via chain; ReverseProxy has copied the client's.
func (p *Proxy) setVia(out http.Header) {
	if prior := out["Via"]; len(prior) > 0 {
		out["Via"] = []string{strings.Join(prior, ", ") + ", " + p.via}
		return
	}
	out["Via"] = p.viaHdr
}

// noRoute is set as the outbound host when rewrite has no routable instance to pick (ServeHTTP
// hands it only routable routes, so this is a guard); the retrier turns it into errNoRoute
// without dialing.
const noRoute = "no-route.oo.invalid"

var errNoRoute = errors.New("no routable instance")

// routeKey carries the request's *tracked (the route ServeHTTP looked up) to rewrite, the
// retrier and errorHandler.
type routeKey struct{}

func trackedOf(r *http.Request) *tracked {
	tr, _ := r.Context().Value(routeKey{}).(*tracked)
	return tr
}

// rewrite picks the instance. Path and raw query are left exactly as the client sent them.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	tr := trackedOf(pr.In)
	t := tr.rt.Pick()
	if t == nil {
		pr.Out.URL.Host = noRoute
		return
	}
	tr.ex.Instance = t.ID
	pr.Out.URL.Scheme = t.Scheme
	pr.Out.URL.Host = t.Host
	pr.Out.Host = ""
	setXForwarded(pr.In, pr.Out.Header)
	setClientAddr(pr.In, pr.Out.Header)
	p.setVia(pr.Out.Header)
	tr.ex.Caller = p.setCaller(pr.In, pr.Out.Header)
}

// setXForwarded does what ProxyRequest.SetXForwarded does, with the inbound X-Forwarded-For
// chain kept (ReverseProxy has already removed the client's X-Forwarded-* from out), for one
// allocation instead of three: the values share one backing array, and the keys are already
// canonical so Header.Set's canonicalisation is skipped. Each value is capped at length 1, so
// an Add on one of them reallocates instead of overwriting its neighbour.
func setXForwarded(in *http.Request, out http.Header) {
	v := new([3]string)
	v[2] = "http"
	if in.TLS != nil {
		v[2] = "https"
	}
	out["X-Forwarded-Proto"] = v[2:3:3]
	v[1] = in.Host
	out["X-Forwarded-Host"] = v[1:2:2]
	clientIP, _, err := net.SplitHostPort(in.RemoteAddr)
	if err != nil {
		return // no address to add; like SetXForwarded, forward no chain at all
	}
	if prior := in.Header["X-Forwarded-For"]; len(prior) > 0 {
		clientIP = strings.Join(prior, ", ") + ", " + clientIP
	}
	v[0] = clientIP
	out["X-Forwarded-For"] = v[0:1:1]
}

// retrier is the proxy's RoundTripper: the shared Transport plus one retry on another instance
// when the request certainly did not reach a backend (the dial failed) or may safely be sent
// twice (an idempotent request without a body whose response never started). It also feeds
// failures back to the registry as passive health checks.
type retrier Proxy

func (rt *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	p := (*Proxy)(rt)
	if req.URL.Host == noRoute {
		return nil, errNoRoute
	}
	var body *replayableBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &replayableBody{rc: req.Body}
		req.Body = body
	}
	rsp, err := p.transport.RoundTrip(req)
	if err == nil || req.Context().Err() != nil {
		return rsp, err
	}
	slug := registry.SlugOf(req.URL)
	route := p.reg.Table().Lookup(slug)
	dialErr := isDialError(err)
	if failed := route.Find(req.URL.Host); failed != nil {
		if dialErr {
			p.reg.ReportDialFailure(failed.ID, err)
		} else {
			p.reg.ReportSuspect(failed.ID)
		}
	}
	replayable := body == nil || (dialErr && !body.touched.Load())
	if !replayable || !(dialErr || idempotent(req.Method)) {
		return nil, err
	}
	// The failed instance may already be gone from the new table; exclude it either way.
	alt := p.reg.Table().Lookup(slug).Alternative(req.URL.Host)
	if alt == nil {
		return nil, err
	}
	if tr := trackedOf(req); tr != nil {
		tr.ex.Retries++
		tr.ex.Instance = alt.ID
	}
	again := *req
	u := *req.URL
	u.Scheme, u.Host = alt.Scheme, alt.Host
	again.URL = &u
	rsp, err2 := p.transport.RoundTrip(&again)
	if err2 != nil && isDialError(err2) {
		p.reg.ReportDialFailure(alt.ID, err2)
	}
	return rsp, err2
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// isDialError reports whether err means no connection was made, so the backend saw nothing.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// replayableBody lets a request body be sent again after a failed dial. The Transport closes
// the body when the round trip fails; as long as nothing was read, that close is held back so
// the untouched client body can go to the next instance. Once a byte was read it behaves as a
// plain body and is never replayed.
type replayableBody struct {
	rc      io.ReadCloser
	touched atomic.Bool
}

func (b *replayableBody) Read(p []byte) (int, error) {
	b.touched.Store(true)
	return b.rc.Read(p)
}

func (b *replayableBody) Close() error {
	if b.touched.Load() {
		return b.rc.Close()
	}
	// The server closes the inbound body when the handler returns.
	return nil
}

// errorHandler answers when no response came from a backend: 503 when nothing could be reached
// (the client may retry), 504 on a timeout, 502 when a backend broke mid-request.
func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	slug := registry.SlugOf(r.URL)
	// The client's body is checked first: a stalled body also cancels the request's context.
	if cb, _ := r.Context().Value(clientBodyKey{}).(*clientBody); cb != nil {
		switch cb.failure.Load() {
		case bodyStalled:
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusRequestTimeout, "the request body stopped arriving: nothing for "+p.bodyIdle.String()+" (the server's --proxy-body-idle-timeout)")
			return
		case bodyMalformed:
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusBadRequest, "malformed request body: "+cb.err.Error())
			return
		}
	}
	if r.Context().Err() != nil {
		// The client went away and cancelled the upstream request; nobody reads this answer.
		if tr := trackedOf(r); tr != nil {
			tr.gone = true
		}
		w.WriteHeader(499)
		return
	}
	if tr := trackedOf(r); tr != nil {
		tr.ex.Upstream = failureOf(err)
	}
	p.log.Warn("proxy error", "slug", slug, "method", r.Method, "path", r.URL.Path,
		"request_id", r.Header.Get("X-Request-Id"), "err", err)
	switch {
	case egress.IsRefused(err):
		writeError(w, http.StatusBadGateway, "the instance of \""+slug+"\" is not reachable: "+refusal(err))
	case errors.Is(err, errNoRoute) || isDialError(err):
		p.unavailable(w, slug)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		writeError(w, http.StatusGatewayTimeout, "the instance of \""+slug+"\" did not answer in time")
	default:
		writeError(w, http.StatusBadGateway, "the instance of \""+slug+"\" failed to answer: "+err.Error())
	}
}

// failureOf names what went wrong with the backend for the traffic record: a connection the
// policy refused counts as a failed dial (nothing reached the instance).
func failureOf(err error) traffic.Failure {
	switch {
	case errors.Is(err, errNoRoute):
		return traffic.NoFailure // no instance was left to try; the 503 says so
	case egress.IsRefused(err) || isDialError(err):
		return traffic.FailDial
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return traffic.FailTimeout
	}
	return traffic.FailReset
}

// refusal is the policy's own message, without the dial error around it.
func refusal(err error) string {
	var re *egress.RefusedError
	errors.As(err, &re)
	return re.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: msg})
}

// bufSize is the copy buffer of one proxied body; ReverseProxy's own default.
const bufSize = 32 << 10

// bufferPool recycles copy buffers. sync.Pool holds the buffer's first byte rather than the
// slice: a pointer fits in an interface without an allocation, a slice header does not, and
// this runs twice per proxied request.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { return unsafe.SliceData(make([]byte, bufSize)) }}

func (bufferPool) Get() []byte { return unsafe.Slice(buffers.Get().(*byte), bufSize) }

func (bufferPool) Put(b []byte) {
	if cap(b) == bufSize {
		buffers.Put(unsafe.SliceData(b))
	}
}
