package sdk

import (
	"context"
	"encoding/base64"
	"encoding/json"
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
	serverURL, selfURL, token, name, healthPath string
	store                                       PasswordStore
	interval, ttl                               time.Duration
	listener                                    net.Listener
	noListen                                    bool
	httpClient                                  *http.Client
	logger                                      *slog.Logger
}

// WithServerURL sets the oo server's URL instead of OO_URL.
func WithServerURL(u string) Option { return func(o *options) { o.serverURL = u } }

// WithSelfURL sets the URL the server reaches this instance at instead of SELF_URL.
func WithSelfURL(u string) Option { return func(o *options) { o.selfURL = u } }

// WithToken uses this bearer token instead of OO_TOKEN or a stored password.
func WithToken(t string) Option { return func(o *options) { o.token = t } }

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

	mu         sync.Mutex
	c          *client.Client
	instanceID string

	cancel    context.CancelFunc
	done      chan struct{}
	deregErr  error
	closeOnce sync.Once

	verifierOnce sync.Once
	verifier     *Verifier
}

// Start makes this process an instance of the service slug: it gets a token for the slug's
// account (OO_TOKEN, a stored password, or a new account), opens the listener, registers the
// instance URL, and heartbeats in the background. When ctx ends or Close is called the
// instance is deregistered. OO_SLUG, when set, replaces slug.
func Start(ctx context.Context, slug string, opts ...Option) (*Service, error) {
	o := options{
		serverURL: ServerURLFromEnv(),
		selfURL:   os.Getenv(EnvSelfURL),
		token:     os.Getenv(EnvToken),
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
	if o.token != "" {
		if ts := tokenSlug(o.token); ts != "" && ts != slug {
			return nil, fmt.Errorf("sdk.Start: the token belongs to %q, not %q", ts, slug)
		}
	}
	copts := []client.Option{}
	if o.httpClient != nil {
		copts = append(copts, client.WithHTTPClient(o.httpClient))
	}
	s := &Service{slug: slug, opts: o, c: client.New(o.serverURL, copts...), done: make(chan struct{})}

	if err := s.listen(); err != nil {
		return nil, err
	}
	fail := func(err error) (*Service, error) {
		if s.ln != nil && o.listener == nil {
			s.ln.Close()
		}
		return nil, err
	}
	if err := s.login(ctx); err != nil {
		return fail(err)
	}
	if err := s.register(ctx); err != nil {
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

// login sets the client's token.
func (s *Service) login(ctx context.Context) error {
	tok := s.opts.token
	if tok == "" {
		t, _, err := EnsureAccount(ctx, s.client(), s.slug, s.opts.name, s.opts.store)
		if err != nil {
			return err
		}
		tok = t.Token
	}
	s.mu.Lock()
	s.c = s.c.WithToken(tok)
	s.mu.Unlock()
	return nil
}

// register puts the instance in the registry and sends a first beat, which makes it Healthy at
// once instead of after the first probe.
func (s *Service) register(ctx context.Context) error {
	c := s.client()
	inst, err := c.RegisterInstance(ctx, api.RegisterInstanceRequest{
		URL:          s.selfURL,
		HealthPath:   s.opts.healthPath,
		HeartbeatTTL: s.opts.ttl.String(),
	})
	if err != nil {
		return fmt.Errorf("registering instance %s as %s: %w", s.selfURL, s.slug, err)
	}
	id := ""
	if inst != nil {
		id = inst.ID
	} else if id, err = s.findInstance(ctx, c); err != nil {
		return err
	}
	s.mu.Lock()
	s.instanceID = id
	s.mu.Unlock()
	if _, err := c.Heartbeat(ctx, id, s.opts.ttl.String()); err != nil && !client.IsStatus(err, http.StatusNotFound) {
		return fmt.Errorf("first heartbeat of %s: %w", id, err)
	}
	return nil
}

// findInstance looks the instance up for servers that answer the registration with {} only.
func (s *Service) findInstance(ctx context.Context, c *client.Client) (string, error) {
	list, err := c.ListInstances(ctx, client.InstanceFilter{Slug: s.slug})
	if err != nil {
		return "", fmt.Errorf("looking up the registered instance: %w", err)
	}
	for _, in := range list {
		if strings.EqualFold(strings.TrimRight(in.URL, "/"), s.selfURL) {
			return in.ID, nil
		}
	}
	return "", fmt.Errorf("the server accepted %s but does not list it", s.selfURL)
}

// run heartbeats until ctx ends, then deregisters.
func (s *Service) run(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.opts.interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			s.deregErr = s.deregister()
			return
		case <-t.C:
		}
		err := s.beat(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			s.opts.logger.Warn("oo heartbeat failed; retrying", "slug", s.slug, "err", err)
			failing = true
		case err == nil && failing:
			s.opts.logger.Info("oo heartbeat ok again", "slug", s.slug)
			failing = false
		}
	}
}

// beat sends one heartbeat and repairs what it can: an instance the server forgot is registered
// again, a token it no longer accepts is replaced by logging in again.
func (s *Service) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.interval)
	defer cancel()
	_, err := s.client().Heartbeat(ctx, s.InstanceID(), s.opts.ttl.String())
	switch {
	case err == nil:
		return nil
	case client.IsStatus(err, http.StatusNotFound):
		return s.register(ctx)
	case client.IsStatus(err, http.StatusUnauthorized) && s.opts.token == "":
		if err := s.login(ctx); err != nil {
			return err
		}
		return s.register(ctx)
	}
	return err
}

func (s *Service) deregister() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.client().DeleteInstance(ctx, s.InstanceID())
	if err != nil && !client.IsStatus(err, http.StatusNotFound) {
		return fmt.Errorf("deregistering %s: %w", s.selfURL, err)
	}
	return nil
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
func (s *Service) InstanceID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.instanceID
}

// Client is an API client authenticated as the service, for calling the server or, through
// its proxy, other services.
func (s *Service) Client() *client.Client { return s.client() }

// Token is the service's bearer token.
func (s *Service) Token() string { return s.client().Token() }

func (s *Service) client() *client.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

// Verifier checks the bearer tokens of incoming requests against the server's public key.
func (s *Service) Verifier() *Verifier {
	s.verifierOnce.Do(func() { s.verifier = NewVerifier(s.client()) })
	return s.verifier
}

// listenAddr turns a self URL into the address to listen on: the URL's own IP, loopback for
// "localhost", every interface for any other host name.
func listenAddr(self string) (string, error) {
	u, err := url.Parse(self)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%s %q is not an http(s) URL with a host", EnvSelfURL, self)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
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
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Slug string `json:"olu"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	return c.Slug
}
