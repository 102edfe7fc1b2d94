// Package server assembles the platform: store, user service, registry with health checks,
// proxy and the HTTP API, behind one listener.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/egress"
	"github.com/ooctl/oo/server/httpapi"
	"github.com/ooctl/oo/server/metrics"
	"github.com/ooctl/oo/server/proxy"
	"github.com/ooctl/oo/server/registry"
	"github.com/ooctl/oo/server/store"
	"github.com/ooctl/oo/server/store/etcd"
	"github.com/ooctl/oo/server/throttle"
	"github.com/ooctl/oo/server/traffic"
	"github.com/ooctl/oo/server/user"
)

// Config is everything `oo server start` can be told. Zero values mean the defaults.
type Config struct {
	Addr    string // listen address; default 127.0.0.1:58231
	DataDir string // holds oo.db; required with the bolt store
	// Store is where state lives: "bolt" (default), one file in DataDir for a single server,
	// or "etcd", shared by every replica started on the same etcd and prefix (see Etcd).
	Store string
	// Advertise is the address other replicas and users reach this one at, as `oo server ls`
	// shows it; default the listen address.
	Advertise string
	// Etcd is how to reach etcd with Store "etcd": endpoints, TLS files, credentials, key
	// prefix (default /oo/, so several platforms can share one etcd) and timeouts.
	Etcd etcd.Config
	// ReplicaTTL is the lease of this replica's registration and prober campaign with etcd:
	// a replica that dies is listed, and keeps the prober role, this long at most. Default
	// etcd.DefaultReplicaTTL (5s).
	ReplicaTTL time.Duration
	// Version is this build's version, as `oo server ls` shows it; default "dev".
	Version       string
	Registration  string        // "open" (default) or "closed"
	TokenTTL      time.Duration // default 720h
	AdminPassword string        // first boot only; generated and printed when empty
	// BcryptCost is the password hashing cost; 0 means bcrypt's default. Tests lower it: one
	// hash at the default cost takes seconds under the race detector.
	BcryptCost int

	ProbeInterval  time.Duration // health probe interval; default 5s; negative disables probing
	InstanceExpiry time.Duration // Unreachable longer than this is removed; default 24h
	// MaxInstances is the per-account instance quota (admins exempt); default 100, negative:
	// no limit.
	MaxInstances int

	// LoginFailures failed logins are allowed per client address and per slug in each
	// LoginFailureWindow (a token bucket), then 429; default 10 per minute, negative: no limit.
	LoginFailures      int
	LoginFailureWindow time.Duration
	// HashConcurrency bounds the password hashes running at once (logins, registrations);
	// default half the CPUs, at least 1.
	HashConcurrency int

	ShutdownTimeout time.Duration // bound on draining in-flight requests; default 10s
	APIBodyTimeout  time.Duration // bound on reading an API request's body; default 30s

	// AllowTargets and DenyTargets narrow or widen what instance URLs may point at (see
	// egress.Policy for the precedence); link-local and cloud metadata addresses are refused
	// unless allowed explicitly.
	AllowTargets []netip.Prefix
	DenyTargets  []netip.Prefix
	// Targets, when set, is used instead of a policy built from AllowTargets and DenyTargets
	// (tests give it an in-process resolver).
	Targets *egress.Policy

	// Proxy tunes the connections to backends (timeouts, keep-alive pool); zero values are the
	// proxy's defaults, except BodyIdleTimeout: 0 is DefaultBodyIdleTimeout and negative turns
	// it off. Its Logger is ignored: the proxy logs to Logger.
	Proxy proxy.Options
	// ProxyNetHTTPOnly turns the proxy's fast path off: every request is served by net/http
	// and httputil.ReverseProxy, as before the fast path existed (for A/B measurements).
	ProxyNetHTTPOnly bool

	// Metrics is who may read GET /metrics: httpapi.MetricsLocal (the default: loopback
	// clients freely, others with an admin token), MetricsOpen, MetricsAdmin or MetricsOff
	// (no endpoint, and no traffic.Recorder: the proxy records nothing).
	Metrics string

	// Middleware, if set, wraps the root handler (outermost). Tests use it to check every
	// answer against the wire contract.
	Middleware func(http.Handler) http.Handler

	Logger *slog.Logger // default: text to Stderr at info
	Stderr io.Writer    // where the generated admin password is printed; default os.Stderr

	// Now is the clock tokens are issued and judged by; default time.Now. Tests of token
	// expiry set a fake one instead of waiting for tokens to die.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Addr == "" {
		c.Addr = api.DefaultAddr
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Store == "" {
		c.Store = StoreBolt
	}
	if c.Registration == "" {
		c.Registration = "open"
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = user.DefaultTokenTTL
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = registry.DefaultProbeInterval
	}
	if c.InstanceExpiry == 0 {
		c.InstanceExpiry = registry.DefaultInstanceExpiry
	}
	if c.MaxInstances == 0 {
		c.MaxInstances = DefaultMaxInstances
	}
	if c.LoginFailures == 0 {
		c.LoginFailures = DefaultLoginFailures
	}
	if c.LoginFailureWindow == 0 {
		c.LoginFailureWindow = DefaultLoginFailureWindow
	}
	if c.Proxy.BodyIdleTimeout == 0 {
		c.Proxy.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.Metrics == "" {
		c.Metrics = httpapi.MetricsLocal
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(c.Stderr, nil))
	}
}

// DefaultBodyIdleTimeout is how long a proxied request body may send nothing before the
// request ends with a 408: long enough for a client that pauses, short enough that stalled
// connections do not pile up.
const DefaultBodyIdleTimeout = 60 * time.Second

// DefaultLoginFailures per DefaultLoginFailureWindow is the failed-login budget of one client
// address and of one slug: plenty for a person mistyping, nothing for guessing.
const (
	DefaultLoginFailures      = 10
	DefaultLoginFailureWindow = time.Minute
)

// The defaults of the components, re-exported for the command line (which may import only this
// package of the server).
const (
	DefaultTokenTTL       = user.DefaultTokenTTL
	DefaultProbeInterval  = registry.DefaultProbeInterval
	DefaultInstanceExpiry = registry.DefaultInstanceExpiry
)

// Who may read /metrics (Config.Metrics), re-exported for the command line.
const (
	MetricsLocal = httpapi.MetricsLocal
	MetricsOpen  = httpapi.MetricsOpen
	MetricsAdmin = httpapi.MetricsAdmin
	MetricsOff   = httpapi.MetricsOff
)

// MetricsModes lists the valid values of Config.Metrics.
var MetricsModes = httpapi.MetricsModes

// DefaultMaxInstances is the per-account instance quota: far more than one developer runs,
// far less than a registration flood.
const DefaultMaxInstances = 100

// Server is an assembled platform, not yet listening.
type Server struct {
	cfg      Config
	store    store.Store
	users    *user.Service
	registry *registry.Registry
	proxy    *proxy.Proxy
	traffic  *traffic.Recorder // nil with --metrics off
	targets  *egress.Policy
	handler  http.Handler
	replicas *replicas
	// shared is the etcd store when Store is "etcd", else nil.
	shared *etcd.Store
	// stopping is closed when Serve starts shutting down (httpapi.API.Done): streams end.
	stopping     chan struct{}
	stoppingOnce sync.Once
}

// The stores Config.Store names.
const (
	StoreBolt = "bolt"
	StoreEtcd = "etcd"
)

// DBFile is the database file name inside the data dir.
const DBFile = "oo.db"

// New opens the store and builds every component. It fails fast when another server holds the
// data dir.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	if cfg.Registration != "open" && cfg.Registration != "closed" {
		return nil, fmt.Errorf("--registration must be open or closed, not %q", cfg.Registration)
	}
	if !slices.Contains(httpapi.MetricsModes, cfg.Metrics) {
		return nil, fmt.Errorf("--metrics must be one of %s, not %q", strings.Join(httpapi.MetricsModes, ", "), cfg.Metrics)
	}
	started := time.Now()
	st, shared, err := openStore(&cfg)
	if err != nil {
		return nil, err
	}
	// Every store write is timed for oo_store_write_duration_seconds; the components see the
	// timed store, the server keeps the plain one to close.
	m := metrics.New()
	uopts := user.Options{
		TokenTTL:        cfg.TokenTTL,
		Registration:    cfg.Registration,
		AdminPassword:   cfg.AdminPassword,
		BcryptCost:      cfg.BcryptCost,
		HashConcurrency: cfg.HashConcurrency,
		Notice:          cfg.Stderr,
		Logger:          cfg.Logger,
		Now:             cfg.Now,
	}
	if shared != nil {
		uopts.Shared = shared
	}
	users, err := user.New(m.Store(st), uopts)
	if err != nil {
		st.Close()
		return nil, err
	}
	warnReservedAccounts(users, cfg.Logger)
	targets := cfg.Targets
	if targets == nil {
		targets = egress.New(cfg.AllowTargets, cfg.DenyTargets)
	}
	ropts := registry.Options{
		Targets:        targets,
		ProbeInterval:  cfg.ProbeInterval,
		InstanceExpiry: cfg.InstanceExpiry,
		MaxInstances:   max(0, cfg.MaxInstances),
		Logger:         cfg.Logger,
	}
	if shared != nil {
		ropts.Shared = shared // and it probes only while this replica is the elected prober
	}
	reg, err := registry.New(m.Store(st), ropts)
	if err != nil {
		users.Close()
		st.Close()
		return nil, err
	}
	m.ObserveRegistry(reg)
	// What the proxy serves is recorded unless metrics are off (the benchmark's baseline).
	var rec *traffic.Recorder
	if cfg.Metrics != httpapi.MetricsOff {
		rec = traffic.New()
	}
	m.ObserveTraffic(rec, reg)
	popts := cfg.Proxy
	popts.Traffic = rec
	popts.Logger = cfg.Logger
	popts.Targets = targets
	// The proxy's hot path never waits for the store: memory only (the same thing with bolt).
	popts.Identity = localIdentity{users}
	prx := proxy.New(reg, popts)
	reps := newReplicas(&cfg)
	if shared != nil {
		reps.members = sharedMembers(shared)
	}
	stopping := make(chan struct{})
	a := &httpapi.API{Users: users, Registry: reg, Proxy: prx, Log: cfg.Logger, BodyTimeout: cfg.APIBodyTimeout,
		LoginLimit: throttle.New(cfg.LoginFailures, cfg.LoginFailureWindow), Replicas: reps,
		Metrics: m, MetricsAccess: cfg.Metrics, Traffic: rec, StartedAt: started, StoreName: st.Describe(), Version: cfg.Version,
		Done: stopping}
	h := a.Handler()
	if cfg.Middleware != nil {
		h = cfg.Middleware(h)
	}
	return &Server{cfg: cfg, store: st, users: users, registry: reg, proxy: prx, traffic: rec, targets: targets, handler: h,
		replicas: reps, shared: shared, stopping: stopping}, nil
}

// warnReservedAccounts logs each account whose slug has since become a reserved segment ("ui"
// was free before the dashboard took it): it can still sign in, but its services are no longer
// reachable through the proxy, since the server answers that segment itself. One lookup per
// reserved name, at start.
func warnReservedAccounts(users *user.Service, log *slog.Logger) {
	for _, slug := range slices.Sorted(maps.Keys(api.ReservedSlugs)) {
		if u, err := users.Find(slug); err == nil {
			log.Warn("an account has a slug the server now reserves: its services are not routable; "+
				"move them to another account (oo user create) and remove this one (oo user rm)",
				"slug", slug, "user_id", u.ID)
		}
	}
}

// Handler is the root handler, for tests that serve it themselves.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve runs background work (health checks) and serves HTTP on ln until ctx is done, then
// drains in-flight requests (bounded by ShutdownTimeout) and closes the store.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.replicas.listening(ln.Addr().String(), s.cfg.Advertise != "")
	bg, stopBG := context.WithCancel(context.Background())
	regDone := make(chan struct{})
	go func() { defer close(regDone); s.registry.Run(bg) }()
	go s.forgetRemoved(bg)
	memberDone := s.runMember(bg)

	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}
	if w := ExposureWarning(ln.Addr(), s.cfg.Registration, s.targets); w != "" {
		fmt.Fprintln(s.cfg.Stderr, w)
	}
	// The fast path reads every connection first and hands what it does not serve (the API,
	// upgrades, anything unusual) to hs; shutting it down shuts hs down too.
	var srv interface {
		Shutdown(context.Context) error
		Close() error
	} = hs
	serve := hs.Serve
	if !s.cfg.ProxyNetHTTPOnly {
		fs := proxy.NewFastServer(s.proxy, hs, proxy.FastOptions{Log: s.cfg.Logger,
			IdleTimeout: hs.IdleTimeout, ReadHeaderTimeout: hs.ReadHeaderTimeout})
		srv, serve = fs, fs.Serve
	}
	errc := make(chan error, 1)
	go func() { errc <- serve(ln) }()
	s.cfg.Logger.Info("oo server listening", "addr", ln.Addr().String(), "store", s.store.Describe(), "targets", s.targets.String())

	var serveErr error
	select {
	case <-ctx.Done():
		s.cfg.Logger.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
		// Followers of live traffic (oo logs, oo top) never end on their own: closing the
		// recorder ends their streams, and closing stopping those that run without one
		// (--metrics off), so the drain waits only for real requests.
		s.traffic.Close()
		s.stoppingOnce.Do(func() { close(s.stopping) })
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			s.cfg.Logger.Warn("in-flight requests cut off at shutdown timeout", "err", err)
			srv.Close()
		}
		cancel()
	case serveErr = <-errc:
	}
	stopBG()
	<-regDone
	memberDone()
	return errors.Join(serveErr, s.Close())
}

// Close drops the proxy's idle connections to instances, flushes registry state and releases
// the store.
func (s *Server) Close() error {
	s.proxy.Close()
	s.traffic.Close()
	s.users.Close()
	return errors.Join(s.registry.Close(), s.store.Close())
}

// forgetRemoved drops, once a minute, the traffic counts of instances no longer registered, so
// that a server running for months does not keep every instance id it ever routed to.
func (s *Server) forgetRemoved(ctx context.Context) {
	if s.traffic == nil {
		return
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			held := map[string]bool{}
			for _, in := range s.registry.Stats().Instances {
				held[in.ID] = true
			}
			s.traffic.Forget(func(_, id string) bool { return held[id] })
		}
	}
}

// localIdentity is the user service as the proxy sees it: tokens checked from memory only.
type localIdentity struct{ users *user.Service }

func (l localIdentity) Authenticate(token string) (auth.Principal, error) {
	return l.users.AuthenticateLocal(token)
}

// Run listens on cfg.Addr and serves until ctx is done. A busy port or a locked data dir is an
// error returned at once.
func Run(ctx context.Context, cfg Config) error {
	cfg.defaults()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cfg.Addr, unwrapOpErr(err))
	}
	s, err := New(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	return s.Serve(ctx, ln)
}

// unwrapOpErr turns "listen tcp 127.0.0.1:1: bind: address already in use" into the last part,
// since the caller already names the address.
func unwrapOpErr(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			return sys.Err
		}
		return op.Err
	}
	return err
}

// ExposureWarning is the one line printed when the server listens beyond loopback with open
// registration and no --allow-targets: anyone who can reach it may then make it connect, and
// relay HTTP, to anything it can reach. Empty when that is not the case.
func ExposureWarning(addr net.Addr, registration string, targets *egress.Policy) string {
	if registration != "open" || targets.Narrowed() || loopbackOnly(addr) {
		return ""
	}
	return "warning: listening on " + addr.String() + " with open registration and no --allow-targets: anyone who can reach " +
		"this port can create an account, register any URL, and make this server connect and relay HTTP to any address it can " +
		"reach (link-local and cloud metadata excepted); use --registration closed, --allow-targets, or --addr 127.0.0.1:PORT"
}

// loopbackOnly reports whether addr accepts connections from this machine only.
func loopbackOnly(addr net.Addr) bool {
	if addr.Network() == "unix" {
		return true
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return false // a unix socket or a name: unknown reach, so warn
	}
	return ap.Addr().Unmap().IsLoopback()
}
