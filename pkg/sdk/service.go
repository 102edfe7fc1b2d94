package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
)

// Defaults for heartbeats: three beats fit in one TTL, so one lost request does not mark a
// live instance down, and a dead process is noticed within half a minute.
const (
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultHeartbeatTTL      = 30 * time.Second
)

// Option adjusts Start. Options win over the environment.
type Option func(*options)

type options struct {
	serverURL, selfURL, token, tokenFile, name, healthPath string
	store                                                  PasswordStore
	interval, ttl                                          time.Duration
	listener                                               net.Listener
	noListen                                               bool
	httpClient                                             *http.Client
	logger                                                 *slog.Logger
}

// WithServerURL sets the oo server's URL instead of OO_URL.
func WithServerURL(u string) Option { return func(o *options) { o.serverURL = u } }

// WithSelfURL sets the URL the server reaches this instance at instead of SELF_URL.
func WithSelfURL(u string) Option { return func(o *options) { o.selfURL = u } }

// WithToken uses this bearer token instead of OO_TOKEN_FILE, OO_TOKEN or a stored password. The
// service cannot renew it: when it expires, heartbeats fail.
func WithToken(t string) Option { return func(o *options) { o.token, o.tokenFile = t, "" } }

// WithName sets the account's display name when Start creates it (default from the slug).
func WithName(n string) Option { return func(o *options) { o.name = n } }

// WithHealthPath asks the server to probe this path with GET instead of a TCP connect.
func WithHealthPath(p string) Option { return func(o *options) { o.healthPath = p } }

// WithHeartbeat sets how often the instance says it is alive and how long the server waits for
// the next beat before it marks the instance Unreachable.
func WithHeartbeat(interval, ttl time.Duration) Option {
	return func(o *options) { o.interval, o.ttl = interval, ttl }
}

// WithPasswordStore keeps the account's password somewhere other than the default FileStore.
func WithPasswordStore(ps PasswordStore) Option { return func(o *options) { o.store = ps } }

// WithListener serves on ln (and registers its address unless a self URL is given) instead of
// opening a listener from SELF_URL or PORT.
func WithListener(ln net.Listener) Option { return func(o *options) { o.listener = ln } }

// WithoutListener makes Start open no listener: the program listens at SELF_URL itself, and
// should do so before calling Start so that the first health probe finds it.
func WithoutListener() Option { return func(o *options) { o.noListen = true } }

// WithHTTPClient sets the client used to talk to the oo server.
func WithHTTPClient(h *http.Client) Option { return func(o *options) { o.httpClient = h } }

// WithLogger sets where heartbeat trouble is reported (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Service is a registered, heartbeating instance of a service. Its methods are safe for
// concurrent use.
type Service struct {
	slug, selfURL string
	opts          options
	ln            net.Listener

	base   *client.Client // no token: tokens supplies it
	tokens *Tokens
	lease  *Lease

	cancel    context.CancelFunc
	done      chan struct{}
	deregErr  error
	closeOnce sync.Once

	verifierOnce sync.Once
	verifier     *Verifier
}

// Start makes this process an instance of the service slug: it gets a token for the slug's
// account (OO_TOKEN_FILE, OO_TOKEN, a stored password, or a new account), opens the listener,
// registers the instance URL, and heartbeats in the background. A token from a stored password
// is renewed by logging in again halfway through its life and whenever the server refuses it;
// one from OO_TOKEN_FILE is read from the file again on every use. When ctx ends or Close is
// called the instance is deregistered. OO_SLUG, when set, replaces slug.
func Start(ctx context.Context, slug string, opts ...Option) (*Service, error) {
	o := options{
		serverURL: ServerURLFromEnv(),
		selfURL:   os.Getenv(EnvSelfURL),
		token:     os.Getenv(EnvToken),
		tokenFile: os.Getenv(EnvTokenFile),
		interval:  DefaultHeartbeatInterval,
		ttl:       DefaultHeartbeatTTL,
	}
	if s := os.Getenv(EnvSlug); s != "" {
		slug = s
	}
	for _, opt := range opts {
		opt(&o)
	}
	if slug == "" {
		return nil, errors.New("sdk.Start: no slug given (argument or " + EnvSlug + ")")
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.store == nil {
		o.store = FileStore{Dir: DefaultCredentialsDir()}
	}
	if o.interval <= 0 {
		o.interval = DefaultHeartbeatInterval
	}
	if o.ttl < o.interval {
		o.ttl = 3 * o.interval
	}
	copts := []client.Option{}
	if o.httpClient != nil {
		copts = append(copts, client.WithHTTPClient(o.httpClient))
	}
	s := &Service{slug: slug, opts: o, base: client.New(o.serverURL, copts...), done: make(chan struct{})}
	switch {
	case o.tokenFile != "":
		s.tokens = TokenFile(o.tokenFile)
		if s.tokens.Current() == "" {
			return nil, fmt.Errorf("sdk.Start: no token in %s %s", EnvTokenFile, o.tokenFile)
		}
	case o.token != "":
		s.tokens = FixedToken(o.token)
	default:
		s.tokens = RenewingToken("", func(ctx context.Context) (string, error) {
			t, _, err := EnsureAccount(ctx, s.base, slug, o.name, o.store)
			if err != nil {
				return "", err
			}
			return t.Token, nil
		})
	}
	if ts := tokenSlug(s.tokens.Current()); ts != "" && ts != slug {
		return nil, fmt.Errorf("sdk.Start: the token belongs to %q, not %q", ts, slug)
	}

	if err := s.listen(); err != nil {
		return nil, err
	}
	fail := func(err error) (*Service, error) {
		if s.ln != nil && o.listener == nil {
			s.ln.Close()
		}
		return nil, err
	}
	if _, err := s.tokens.Token(ctx); err != nil {
		return fail(err)
	}
	s.lease = &Lease{Client: s.base, Tokens: s.tokens, Slug: slug, URL: s.selfURL, HealthPath: o.healthPath, TTL: o.ttl}
	if err := s.lease.Register(ctx); err != nil {
		return fail(err)
	}

	hbCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	go s.run(hbCtx)
	return s, nil
}

// listen opens the listener and settles the self URL.
func (s *Service) listen() error {
	o := &s.opts
	if o.listener != nil {
		s.ln = o.listener
		if o.selfURL == "" {
			o.selfURL = "http://" + loopbackAddr(o.listener.Addr())
		}
	} else if !o.noListen {
		addr := "127.0.0.1:0"
		if o.selfURL != "" {
			a, err := listenAddr(o.selfURL)
			if err != nil {
				return err
			}
			addr = a
		} else if p := os.Getenv(EnvPort); p != "" {
			addr = net.JoinHostPort("127.0.0.1", p)
		}
		ln, err := net.Listen("tcp", addr)
		var se *os.SyscallError
		if err != nil && errors.As(err, &se) && errors.Is(se.Err, syscall.EADDRNOTAVAIL) {
			// SELF_URL names this host by an address it does not own (NAT, a container's
			// published address): listen on every interface on that port instead.
			_, port, _ := net.SplitHostPort(addr)
			ln, err = net.Listen("tcp", ":"+port)
		}
		if err != nil {
			return fmt.Errorf("sdk.Start: cannot listen on %s: %w (a program that listens on its own passes sdk.WithoutListener())", addr, err)
		}
		s.ln = ln
		if o.selfURL == "" {
			o.selfURL = "http://" + loopbackAddr(ln.Addr())
		}
	}
	if o.selfURL == "" {
		return errors.New("sdk.Start: no " + EnvSelfURL + " given and no listener to derive it from")
	}
	s.selfURL = strings.TrimRight(o.selfURL, "/")
	return nil
}

// run heartbeats (and keeps a renewable token fresh) until ctx ends, then deregisters.
func (s *Service) run(ctx context.Context) {
	defer close(s.done)
	fresh := make(chan struct{})
	go func() {
		defer close(fresh)
		s.tokens.KeepFresh(ctx, func(err error) {
			if err != nil && ctx.Err() == nil {
				s.opts.logger.Warn("oo token renewal failed; retrying", "slug", s.slug, "err", err)
			}
		})
	}()
	s.lease.Run(ctx, s.opts.interval, func(err error) {
		if err != nil {
			s.opts.logger.Warn("oo heartbeat failed; retrying", "slug", s.slug, "err", err)
		} else {
			s.opts.logger.Info("oo heartbeat ok again", "slug", s.slug)
		}
	})
	<-fresh
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.deregErr = s.lease.Deregister(dctx)
}

// Close stops the heartbeats and deregisters the instance (bounded to a few seconds). It does
// not close the listener: Serve shuts its server down gracefully when the service stops; a
// program serving Listener itself closes its own server. Close is idempotent.
func (s *Service) Close() error {
	s.closeOnce.Do(func() { s.cancel() })
	<-s.done
	return s.deregErr
}

// Done is closed once the service has stopped and deregistered.
func (s *Service) Done() <-chan struct{} { return s.done }

// Serve serves h on the service's listener until the service stops (its context ends or Close
// is called); then in-flight requests get up to ten seconds to finish, after the instance has
// left the registry so the proxy sends nothing new. It returns nil after such a stop.
func (s *Service) Serve(h http.Handler) error {
	if s.ln == nil {
		return errors.New("sdk: Serve needs the listener that Start opens (WithoutListener was given)")
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	drained := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		defer close(drained)
		select {
		case <-s.done:
		case <-quit:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	err := srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-drained
		return nil
	}
	close(quit)
	return err
}

// Slug is the service's slug: the first path segment the proxy routes to it.
func (s *Service) Slug() string { return s.slug }

// URL is the instance's own URL as registered.
func (s *Service) URL() string { return s.selfURL }

// Listener is the listener Start opened (nil with WithoutListener).
func (s *Service) Listener() net.Listener { return s.ln }

// InstanceID is the registry's id for this instance.
func (s *Service) InstanceID() string { return s.lease.ID() }

// Client is an API client authenticated as the service, for calling the server or, through
// its proxy, other services. It carries the token current when it is called: keep calling
// Client rather than keeping one for longer than a token lives.
func (s *Service) Client() *client.Client { return s.base.WithToken(s.tokens.Current()) }

// Token is the service's current bearer token.
func (s *Service) Token() string { return s.tokens.Current() }

// Verifier checks the bearer tokens of incoming requests against the server's public key.
func (s *Service) Verifier() *Verifier {
	s.verifierOnce.Do(func() { s.verifier = NewVerifier(s.base) })
	return s.verifier
}

// listenAddr turns a self URL into the address to listen on: the URL's own IP, loopback for
// "localhost", every interface for any other host name.
func listenAddr(self string) (string, error) {
	u, err := url.Parse(self)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%s %q is not an http(s) URL with a host", EnvSelfURL, self)
	}
	port := api.PortOf(u)
	host := u.Hostname()
	switch {
	case strings.EqualFold(host, "localhost"):
		host = "127.0.0.1"
	case net.ParseIP(host) == nil:
		host = ""
	}
	return net.JoinHostPort(host, port), nil
}

// loopbackAddr names a wildcard listen address by 127.0.0.1 so that it is a reachable URL.
func loopbackAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if ta.IP == nil || ta.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(ta.Port))
	}
	return ta.String()
}

// tokenSlug reads the slug claim of a token without verifying it, only to catch a token meant
// for another service early with a clear message; the server verifies it for real.
func tokenSlug(tok string) string {
	var c api.TokenClaims
	if peekClaims(tok, &c) != nil {
		return ""
	}
	return c.Slug
}
