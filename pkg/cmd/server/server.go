// Package server implements `oo server`, the only CLI package that imports the server.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/adrg/xdg"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/buildinfo"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/egress"
	"github.com/ooctl/oo/server/proxy"
	"github.com/ooctl/oo/server/store/etcd"
)

// NewCmd returns `oo server`.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the oo platform server",
		Long: `Run the oo platform: the user service, the service registry with health checks, and the
reverse proxy that routes SERVER/<slug>/... to the instances owned by <slug>.`,
		Example: `  oo server start
  OO_ADMIN_PASSWORD=change-me oo server start --addr 127.0.0.1:9000 --data-dir ./oo-data
  oo server ls`,
	}
	cmd.AddCommand(NewCmdStart(f, nil), NewCmdLs(f, nil), NewCmdStatus(f, nil))
	return cmd
}

// StartOptions is what `oo server start` needs.
type StartOptions struct {
	IO  *iostreams.IOStreams
	Ctx context.Context // the command's context, set when it runs

	addr               string
	dataDir            string
	registration       string
	tokenTTL           time.Duration
	probeInterval      time.Duration
	instanceExpiry     time.Duration
	shutdownTimeout    time.Duration
	loginFailureWindow time.Duration
	loginFailures      int
	maxInstances       int
	hashConcurrency    int
	allowTargets       string
	denyTargets        string
	logFormat          string
	logLevel           string
	store              string
	etcdEndpoints      string
	etcd               etcdFlags
	advertise          string
	proxy              proxy.Options
	netHTTPOnly        bool
	metrics            string
	// envErrs are malformed environment defaults, reported when the command runs (not when
	// the command tree is built, which every oo command does).
	envErrs []error
}

// DefaultDataDir is $XDG_DATA_HOME/oo.
func DefaultDataDir() string { return filepath.Join(xdg.DataHome, "oo") }

// NewCmdStart returns `oo server start`; runF, when set, runs instead of startRun (tests).
func NewCmdStart(f *cmdutil.Factory, runF func(*StartOptions) error) *cobra.Command {
	o := &StartOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Start the server in the foreground",
		Long: `Start the oo server in the foreground. State lives in one bbolt file under --data-dir
(--store bolt, the default), or in etcd (--store etcd), shared by every server started on the
same etcd and --etcd-prefix: several replicas, any of which answers every API call and
proxies every slug. Put a load balancer or a DNS name with several addresses in front of them.
With etcd, --data-dir is not used; each replica registers itself (see "oo server ls"), one of
them is elected to health-check the instances, and a replica cut off from etcd keeps proxying
from the routes it knows while writes answer 503. --etcd-password is visible to other users
in the process list: prefer OO_ETCD_PASSWORD.

On first boot an admin account (slug "admin") is created with the password from
OO_ADMIN_PASSWORD, or with a random password printed once to stderr. On later starts
OO_ADMIN_PASSWORD is ignored, with a one-line warning unless it is the admin's current password
(replicas of a cluster share one environment): change the password with "oo passwd".

Outbound targets: any account may register an instance URL, which the server then probes and
proxies to. Link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10 and their
IPv4-mapped forms) are refused unless --allow-targets names them. --allow-targets, when set, is
the only address space allowed; --deny-targets wins over everything. The policy is checked at
registration (403) and on every connection the prober and the proxy make. Listening beyond
loopback with open registration and no --allow-targets prints a warning.

Every flag can also be set by the environment variable shown in its description; a flag given
on the command line wins. SIGINT or SIGTERM stops accepting connections, lets in-flight
requests finish (up to --shutdown-timeout) and closes the store.`,
		Example: `  # run on the default address, 127.0.0.1:58231
  oo server start

  # another port and data dir, only admins may create accounts, JSON logs
  oo server start --addr 127.0.0.1:9000 --data-dir ./oo-data --registration closed --log-format json

  # reachable from the LAN, proxying only to this machine and the 10/8 network
  oo server start --addr 0.0.0.0:58231 --allow-targets 127.0.0.0/8,::1,10.0.0.0/8

  # one of several replicas sharing an etcd cluster (run the same on each box, with its --addr)
  oo server start --store etcd --etcd-endpoints http://10.0.0.5:2379,http://10.0.0.6:2379 --addr 10.0.0.1:58231

  # etcd over TLS with a client certificate and a user; the password from the environment
  OO_ETCD_PASSWORD=... oo server start --store etcd --etcd-endpoints https://etcd.internal:2379 \
    --etcd-ca ca.pem --etcd-cert client.pem --etcd-key client-key.pem --etcd-username oo --etcd-prefix /team-a/oo/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return startRun(o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.addr, "addr", envOr("OO_ADDR", api.DefaultAddr), "listen address (OO_ADDR)")
	fl.StringVar(&o.dataDir, "data-dir", envOr("OO_DATA_DIR", DefaultDataDir()), "directory of the database (OO_DATA_DIR)")
	fl.StringVar(&o.registration, "registration", envOr("OO_REGISTRATION", "open"), "open: anyone may register; closed: only admins create accounts (OO_REGISTRATION)")
	durations := []struct {
		p     *time.Duration
		name  string
		env   string
		def   time.Duration
		usage string
	}{
		{&o.tokenTTL, "token-ttl", "OO_TOKEN_TTL", server.DefaultTokenTTL, "lifetime of issued tokens"},
		{&o.probeInterval, "probe-interval", "OO_PROBE_INTERVAL", server.DefaultProbeInterval, "how often instances are health-checked; 0 disables probing"},
		{&o.instanceExpiry, "instance-expiry", "OO_INSTANCE_EXPIRY", server.DefaultInstanceExpiry, "remove instances unreachable for longer than this"},
		{&o.loginFailureWindow, "login-failure-window", "OO_LOGIN_FAILURE_WINDOW", server.DefaultLoginFailureWindow, "the window of --login-failures (the budget refills gradually over it)"},
		{&o.shutdownTimeout, "shutdown-timeout", "OO_SHUTDOWN_TIMEOUT", 10 * time.Second, "how long in-flight requests may take to finish on shutdown"},
		{&o.proxy.DialTimeout, "proxy-dial-timeout", "OO_PROXY_DIAL_TIMEOUT", 5 * time.Second, "proxy: connecting to an instance; a failed dial is retried once on another instance"},
		{&o.proxy.ResponseHeaderTimeout, "proxy-response-timeout", "OO_PROXY_RESPONSE_TIMEOUT", 0, "proxy: waiting for an instance's response headers (504 after); 0 waits as long as the client does (long polls, SSE)"},
		{&o.proxy.IdleConnTimeout, "proxy-idle-timeout", "OO_PROXY_IDLE_TIMEOUT", 90 * time.Second, "proxy: how long an idle keep-alive connection to an instance is kept"},
		{&o.proxy.BodyIdleTimeout, "proxy-body-idle-timeout", "OO_PROXY_BODY_IDLE_TIMEOUT", server.DefaultBodyIdleTimeout, "proxy: a request body that sends nothing for this long ends with 408 (a body that keeps flowing is never cut); 0 disables"},
	}
	for _, d := range durations {
		def, err := envDuration(d.env, d.def)
		if err != nil {
			o.envErrs = append(o.envErrs, err)
		}
		fl.DurationVar(d.p, d.name, def, d.usage+" ("+d.env+")")
	}
	fl.StringVar(&o.allowTargets, "allow-targets", os.Getenv("OO_ALLOW_TARGETS"), "comma-separated CIDRs or addresses instance URLs may point at; when set, nothing else is allowed (OO_ALLOW_TARGETS)")
	fl.StringVar(&o.denyTargets, "deny-targets", os.Getenv("OO_DENY_TARGETS"), "comma-separated CIDRs or addresses instance URLs may never point at; wins over --allow-targets (OO_DENY_TARGETS)")
	ints := []struct {
		p     *int
		name  string
		env   string
		def   int
		usage string
	}{
		{&o.loginFailures, "login-failures", "OO_LOGIN_FAILURES", server.DefaultLoginFailures, "failed logins allowed per client address and per slug in each --login-failure-window, then 429 with Retry-After; 0 disables"},
		{&o.maxInstances, "max-instances", "OO_MAX_INSTANCES", server.DefaultMaxInstances, "instances one account may register (admins are exempt); 0: no limit"},
		{&o.hashConcurrency, "hash-concurrency", "OO_HASH_CONCURRENCY", 0, "password hashes (logins, registrations) computed at once, so a login flood cannot starve the proxy; 0: half the CPUs, at least 1"},
	}
	for _, n := range ints {
		def, err := envInt(n.env, n.def)
		if err != nil {
			o.envErrs = append(o.envErrs, err)
		}
		fl.IntVar(n.p, n.name, def, n.usage+" ("+n.env+")")
	}
	// Hidden: the proxy's fast path is always on; turning it off is for A/B measurements
	// (bench/run.sh) and for ruling it out when a request misbehaves.
	fl.BoolVar(&o.netHTTPOnly, "proxy-net-http-only", os.Getenv("OO_PROXY_NET_HTTP_ONLY") == "1", "proxy every request with net/http, never the fast path (OO_PROXY_NET_HTTP_ONLY=1)")
	_ = fl.MarkHidden("proxy-net-http-only")
	fl.StringVar(&o.store, "store", envOr("OO_STORE", server.StoreBolt), "where state lives: bolt (one file in --data-dir, one server) or etcd (shared by replicas) (OO_STORE)")
	fl.StringVar(&o.etcdEndpoints, "etcd-endpoints", os.Getenv("OO_ETCD_ENDPOINTS"), "comma-separated etcd client URLs, e.g. http://10.0.0.5:2379,http://10.0.0.6:2379 (OO_ETCD_ENDPOINTS)")
	o.etcd.add(fl)
	fl.StringVar(&o.advertise, "advertise", os.Getenv("OO_ADVERTISE"), "the address other replicas and users reach this server at, shown by `oo server ls`; default the listen address (OO_ADVERTISE)")
	fl.StringVar(&o.metrics, "metrics", envOr("OO_METRICS", server.MetricsLocal), "who may read GET /metrics: local (loopback clients without a token, others with an admin token), open, admin, or off (no endpoint, and proxied traffic is not recorded: no oo top figures, oo logs or instance request counts) (OO_METRICS)")
	fl.StringVar(&o.logFormat, "log-format", envOr("OO_LOG_FORMAT", "text"), "text or json (OO_LOG_FORMAT)")
	fl.StringVar(&o.logLevel, "log-level", envOr("OO_LOG_LEVEL", "info"), "debug, info, warn or error (OO_LOG_LEVEL)")
	return cmd
}

func startRun(o *StartOptions) error {
	ctx, ios := o.Ctx, o.IO
	if len(o.envErrs) > 0 {
		return cmdutil.Usage(o.envErrs[0])
	}
	if !slices.Contains(server.MetricsModes, o.metrics) {
		return cmdutil.Usagef("--metrics must be one of %s, not %q", strings.Join(server.MetricsModes, ", "), o.metrics)
	}
	for name, d := range map[string]time.Duration{"--proxy-dial-timeout": o.proxy.DialTimeout, "--proxy-response-timeout": o.proxy.ResponseHeaderTimeout, "--proxy-idle-timeout": o.proxy.IdleConnTimeout, "--proxy-body-idle-timeout": o.proxy.BodyIdleTimeout} {
		if d < 0 {
			return cmdutil.Usagef("%s must not be negative, not %v", name, d)
		}
	}
	for name, n := range map[string]int{"--login-failures": o.loginFailures, "--hash-concurrency": o.hashConcurrency, "--max-instances": o.maxInstances} {
		if n < 0 {
			return cmdutil.Usagef("%s must not be negative, not %d", name, n)
		}
	}
	if o.loginFailureWindow <= 0 {
		return cmdutil.Usagef("--login-failure-window must be positive, not %v", o.loginFailureWindow)
	}
	logger, err := newLogger(ios, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	if o.registration != "open" && o.registration != "closed" {
		return cmdutil.Usagef("--registration must be open or closed, not %q", o.registration)
	}
	etcdCfg, err := o.etcdConfig()
	if err != nil {
		return err
	}
	allow, err := egress.ParseList(o.allowTargets)
	if err != nil {
		return cmdutil.Usagef("--allow-targets: %v", err)
	}
	deny, err := egress.ParseList(o.denyTargets)
	if err != nil {
		return cmdutil.Usagef("--deny-targets: %v", err)
	}
	probe := o.probeInterval
	if probe == 0 {
		probe = -1 // Config treats 0 as "default"; the flag's 0 means off.
	}
	if o.proxy.BodyIdleTimeout == 0 {
		o.proxy.BodyIdleTimeout = -1 // the same
	}
	loginFailures, maxInstances := o.loginFailures, o.maxInstances
	if loginFailures == 0 {
		loginFailures = -1 // the same
	}
	if maxInstances == 0 {
		maxInstances = -1 // the same
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return server.Run(ctx, server.Config{
		Addr:               o.addr,
		DataDir:            o.dataDir,
		Registration:       o.registration,
		TokenTTL:           o.tokenTTL,
		AdminPassword:      os.Getenv(api.EnvAdminPass),
		ProbeInterval:      probe,
		InstanceExpiry:     o.instanceExpiry,
		ShutdownTimeout:    o.shutdownTimeout,
		LoginFailures:      loginFailures,
		LoginFailureWindow: o.loginFailureWindow,
		HashConcurrency:    o.hashConcurrency,
		MaxInstances:       maxInstances,
		AllowTargets:       allow,
		DenyTargets:        deny,
		Proxy:              o.proxy,
		ProxyNetHTTPOnly:   o.netHTTPOnly,
		Metrics:            o.metrics,
		Logger:             logger,
		Stderr:             ios.ErrOut,
		Version:            buildinfo.Get().Version,
		Store:              o.store,
		Etcd:               etcdCfg,
		Advertise:          o.advertise,
	})
}

func newLogger(ios *iostreams.IOStreams, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, cmdutil.Usagef("--log-level must be debug, info, warn or error, not %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(ios.ErrOut, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(ios.ErrOut, opts)), nil
	}
	return nil, cmdutil.Usagef("--log-format must be text or json, not %q", format)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// envDuration reads a duration default from the environment. A malformed value is an error
// when the server starts, never silently replaced by the default.
func envDuration(key string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return def, fmt.Errorf("%s=%q is not a duration (like 30s, 5m or 720h)", key, v)
	}
	return d, nil
}

// envInt reads an integer default from the environment, like envDuration.
func envInt(key string, def int) (int, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def, fmt.Errorf("%s=%q is not a whole number", key, v)
	}
	return n, nil
}

// add registers the --etcd-* flags but --etcd-endpoints (here: the server's variables are
// named in this file only).
func (e *etcdFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&e.cert, "etcd-cert", os.Getenv("OO_ETCD_CERT"), "client certificate (PEM) for etcd's TLS client authentication; needs --etcd-key (OO_ETCD_CERT)")
	fl.StringVar(&e.key, "etcd-key", os.Getenv("OO_ETCD_KEY"), "private key (PEM) of --etcd-cert (OO_ETCD_KEY)")
	fl.StringVar(&e.ca, "etcd-ca", os.Getenv("OO_ETCD_CA"), "CA certificate (PEM) that signed etcd's server certificate; default the system's roots (OO_ETCD_CA)")
	fl.StringVar(&e.username, "etcd-username", os.Getenv("OO_ETCD_USERNAME"), "etcd user, when etcd has authentication on (OO_ETCD_USERNAME)")
	fl.StringVar(&e.password, "etcd-password", os.Getenv("OO_ETCD_PASSWORD"), "password of --etcd-username; prefer the variable, since a flag shows in the process list (OO_ETCD_PASSWORD)")
	fl.StringVar(&e.prefix, "etcd-prefix", envOr("OO_ETCD_PREFIX", etcd.DefaultPrefix), "key prefix of this platform's state, so that several platforms can share one etcd (OO_ETCD_PREFIX)")
}
