// Package supervisor runs the replicas of a service as child processes and keeps each in the
// registry while it lives: it picks ports, starts the program with the environment an oo
// service expects, waits until it listens, registers it (through sdk.Lease), restarts it by
// policy with backoff, forwards signals, stops what the program left in its process group, and
// deregisters it. It is the engine of `oo service run`, with no CLI dependency.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ooctl/oo/internal/atomicfile"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/sdk"
)

// Restart policies.
const (
	RestartNo        = "no"
	RestartOnFailure = "on-failure"
	RestartAlways    = "always"
)

// Config is what to run and how.
type Config struct {
	Slug       string
	Argv       []string // the program and its arguments
	Port       int      // fixed listen port of a single replica; 0 picks a free one per start
	Replicas   int
	Restart    string // RestartNo, RestartOnFailure or RestartAlways
	HealthPath string // registered for the server's probes; "" for a TCP connect

	Grace        time.Duration // how long a program may take to exit before it is killed
	StartTimeout time.Duration // how long it may take to listen
	Heartbeat    time.Duration // beat interval; the registered TTL is three beats
	MaxBackoff   time.Duration // longest wait between restarts

	ServerURL string
	// Client and Tokens act for the service in the registry. Nil Tokens: the program registers
	// itself and the supervisor only runs it.
	Client *client.Client
	Tokens *sdk.Tokens
	// ShareToken hands the token to the programs (OO_TOKEN, and OO_TOKEN_FILE kept current):
	// set when Tokens are the service account's own, not an admin's acting for it.
	ShareToken bool
	ForSlug    string // set to Slug when an admin registers on the slug's behalf

	Out, ErrOut io.Writer         // the programs' output passes through; the supervisor's own lines go to ErrOut
	Explain     func(error) error // words API errors for people (nil: as they are)
}

// ExitError is how a run ended other than with every program exiting 0: Code is the exit code
// to pass on (a program's own, 127 for one that cannot start, 1 for one that never listened;
// 0 when Err alone says what happened), and Err is nil when there is nothing more to say than
// the code.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// PortInUseError: the fixed Port is taken by something else, which would pass for the program.
type PortInUseError struct{ Port int }

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("--port %d: 127.0.0.1:%d is already in use", e.Port, e.Port)
}

// Run runs the replicas until they have all exited for good, or until a signal on sigc (or the
// end of ctx) stops them: the first SIGINT/SIGTERM is forwarded, a second one (or the end of
// Grace) kills. It returns nil when every program exited 0, else an *ExitError.
func Run(ctx context.Context, cfg Config, sigc <-chan os.Signal) error {
	sv := &supervisor{
		cfg:      cfg,
		stopping: make(chan struct{}), killNow: make(chan struct{}), procs: map[int]*exec.Cmd{}, ports: map[int]bool{},
	}
	return sv.run(ctx, sigc)
}

func (sv *supervisor) explain(err error) error {
	if sv.cfg.Explain == nil {
		return err
	}
	return sv.cfg.Explain(err)
}

// supervisor runs the replicas of one service and owns their registry entries.
type supervisor struct {
	cfg Config

	outMu    sync.Mutex // one line at a time on the shared streams
	stopping chan struct{}
	stopOnce sync.Once

	groups   sync.WaitGroup // endGroup runs, which oo waits for before it exits
	killNow  chan struct{}  // closed when the grace period ends or a second signal comes
	killOnce sync.Once

	mu    sync.Mutex
	procs map[int]*exec.Cmd // replica → its running process
	ports map[int]bool      // ports handed out, so replicas never share one

	tokenFile string // holds the service account's current token for the programs ("" when none)
}

type replicaResult struct {
	code int
	err  error
}

func (sv *supervisor) run(ctx context.Context, sigc <-chan os.Signal) error {
	if sv.cfg.ShareToken {
		// The programs get the account's token in a file that oo keeps current, so that they
		// outlive its expiry as oo does.
		stopTokens, err := sv.shareToken()
		if err != nil {
			return err
		}
		defer stopTokens()
	}
	results := make(chan replicaResult, sv.cfg.Replicas)
	for i := 1; i <= sv.cfg.Replicas; i++ {
		go func() {
			code, err := sv.replica(ctx, i)
			results <- replicaResult{code, err}
		}()
	}
	allDone := make(chan struct{})
	go sv.watchSignals(ctx, sigc, allDone)

	first := replicaResult{}
	for range sv.cfg.Replicas {
		r := <-results
		if r.err != nil || r.code != 0 {
			if first.err == nil && first.code == 0 {
				first = r
			}
			// One replica that cannot run takes the others down instead of leaving a half
			// service running.
			if r.err != nil {
				sv.stop(syscall.SIGTERM)
			}
		}
	}
	// What the programs left in their process groups is stopped before oo exits (Ctrl-C twice
	// meanwhile kills it at once).
	sv.groups.Wait()
	close(allDone)
	switch {
	case first.err != nil:
		return &ExitError{Code: first.code, Err: first.err}
	case first.code != 0:
		return &ExitError{Code: first.code}
	}
	return nil
}

// shareToken writes the service account's token to a private file for the programs, keeps it
// renewed ahead of its expiry and rewrites the file with each new token, until the returned
// function is called (which removes the file).
func (sv *supervisor) shareToken() (func(), error) {
	dir, err := os.MkdirTemp("", "oo-service-"+sv.cfg.Slug+"-")
	if err != nil {
		return nil, fmt.Errorf("creating the token file of %s: %w", sv.cfg.Slug, err)
	}
	path := filepath.Join(dir, "token")
	// Written atomically: a program never reads half a token.
	write := func(tok string) error { return atomicfile.Write(path, []byte(tok+"\n")) }
	if err := write(sv.cfg.Tokens.Current()); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("writing the token file of %s: %w", sv.cfg.Slug, err)
	}
	sv.tokenFile = path
	sv.cfg.Tokens.OnChange(func(tok string) {
		if err := write(tok); err != nil {
			sv.logf("could not update the token file %s: %v", path, err)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sv.cfg.Tokens.KeepFresh(ctx, func(err error) {
			if err != nil {
				sv.logf("renewing the token of %s failed (will keep trying): %v", sv.cfg.Slug, err)
			} else {
				sv.logf("renewed the token of %s", sv.cfg.Slug)
			}
		})
	}()
	return func() {
		cancel()
		<-done
		os.RemoveAll(dir)
	}, nil
}

// watchSignals turns the first SIGINT/SIGTERM (or the end of ctx) into a forwarded stop, and
// the end of the grace period or a second signal into a kill.
func (sv *supervisor) watchSignals(ctx context.Context, sigc <-chan os.Signal, allDone <-chan struct{}) {
	var sig os.Signal
	select {
	case sig = <-sigc:
	case <-ctx.Done():
		sig = syscall.SIGTERM
	case <-sv.stopping:
		sig = nil
	case <-allDone:
		return
	}
	if sig != nil {
		sv.logf("%s: stopping %s (again to kill at once)", sig, sv.cfg.Slug)
		sv.stop(sig)
	}
	t := time.NewTimer(sv.cfg.Grace)
	defer t.Stop()
	select {
	case <-sigc:
	case <-t.C:
		sv.logf("%s did not exit within %s; killing it", sv.cfg.Slug, sv.cfg.Grace)
	case <-allDone:
		return
	}
	sv.killOnce.Do(func() { close(sv.killNow) })
	sv.mu.Lock()
	defer sv.mu.Unlock()
	for _, c := range sv.procs {
		killProc(c)
	}
}

// stop asks every replica to exit with sig and stops restarts.
func (sv *supervisor) stop(sig os.Signal) {
	sv.stopOnce.Do(func() {
		// Closing under the lock means a replica either sees the stop before starting its
		// process or has it in procs by now.
		sv.mu.Lock()
		defer sv.mu.Unlock()
		close(sv.stopping)
		for _, c := range sv.procs {
			signalProc(c, sig)
		}
	})
}

func (sv *supervisor) isStopping() bool {
	select {
	case <-sv.stopping:
		return true
	default:
		return false
	}
}

func (sv *supervisor) name(i int) string {
	if sv.cfg.Replicas == 1 {
		return sv.cfg.Slug
	}
	return fmt.Sprintf("%s-%d", sv.cfg.Slug, i)
}

func (sv *supervisor) logf(format string, args ...any) {
	sv.outMu.Lock()
	defer sv.outMu.Unlock()
	fmt.Fprintf(sv.cfg.ErrOut, "oo: "+format+"\n", args...)
}

var errNeverListened = errors.New("never listened")

// maxEarlyExits bounds the restarts of a program that keeps exiting before it ever listened.
const maxEarlyExits = 5

// label names replica i and, when the slug does not already say it, the command it runs.
func (sv *supervisor) label(i int) string {
	name := sv.name(i)
	if base := filepath.Base(sv.cfg.Argv[0]); base != sv.cfg.Slug {
		name += " (" + base + ")"
	}
	return name
}

// replica runs one copy until it exits for good and returns its last exit code.
func (sv *supervisor) replica(ctx context.Context, i int) (int, error) {
	const baseBackoff = 500 * time.Millisecond
	backoff := min(baseBackoff, sv.cfg.MaxBackoff)
	everUp := false
	early := 0 // starts in a row that exited before listening
	lastPort := 0
	name := sv.name(i)
	for {
		port, err := sv.pickPort(lastPort)
		if err != nil {
			return 0, err
		}
		lastPort = port
		selfURL := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd, out := sv.command(i, port, selfURL)
		started := time.Now()

		sv.mu.Lock()
		if sv.isStopping() {
			sv.mu.Unlock()
			return 0, nil
		}
		err = cmd.Start()
		if err == nil {
			sv.procs[i] = cmd
		}
		sv.mu.Unlock()
		if err != nil {
			return 127, fmt.Errorf("cannot start %s: %w", sv.cfg.Argv[0], err)
		}
		lease := sv.newLease(selfURL)
		exited := make(chan struct{})
		sv.groups.Add(1)
		go func() {
			_ = cmd.Wait()
			// Whatever the program started in its process group and left running goes too, in
			// the background: a restart does not wait for it.
			go func() { defer sv.groups.Done(); endGroup(cmd, sv.cfg.Grace, sv.killNow) }()
			out.flush()
			close(exited)
		}()

		ready := sv.waitListening(port, exited)
		switch {
		case ready == nil:
			everUp = true
			early = 0
			instID, err := sv.register(ctx, lease)
			if err != nil {
				sv.stop(syscall.SIGTERM)
				<-exited
				sv.forget(i, port)
				return 0, err
			}
			if sv.cfg.Tokens == nil {
				sv.logf("%s (pid %d) listening on %s", name, cmd.Process.Pid, selfURL)
			} else {
				sv.logf("%s (pid %d) listening on %s, registered as %s; reach it at %s/%s/",
					name, cmd.Process.Pid, selfURL, instID, sv.cfg.ServerURL, sv.cfg.Slug)
			}
			sv.heartbeat(ctx, lease, exited)
		case errors.Is(ready, errNeverListened):
			signalProc(cmd, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(sv.cfg.Grace):
				killProc(cmd)
				<-exited
			}
			msg := fmt.Sprintf("%s did not listen on 127.0.0.1:%d within %s and was stopped: does it listen on $PORT? (--port for a fixed port, --start-timeout for a slower start)%s",
				sv.label(i), port, sv.cfg.StartTimeout, out.note())
			if !everUp {
				sv.forget(i, port)
				sv.stop(syscall.SIGTERM)
				return 1, errors.New(msg)
			}
			sv.logf("%s", msg)
		}
		// Deregister before the program finishes exiting, so the proxy sends it nothing new, and
		// again after, in case it registered itself meanwhile (or oo never registered it but the
		// program did).
		sv.deregister(lease)
		<-exited
		sv.deregister(lease)
		sv.forget(i, port)
		code := exitCode(cmd.ProcessState)
		how := describeExit(cmd.ProcessState)
		if sv.isStopping() {
			return code, nil
		}
		restart := sv.cfg.Restart == RestartAlways || (sv.cfg.Restart == RestartOnFailure && code != 0)
		if !everUp && ready != nil && !errors.Is(ready, errNeverListened) {
			early++
			switch {
			case !restart:
				return code, fmt.Errorf("%s %s before listening on 127.0.0.1:%d%s", sv.label(i), how, port, out.note())
			case early >= maxEarlyExits:
				return code, fmt.Errorf("%s %s before listening on 127.0.0.1:%d, %d times in a row; not restarting it again%s",
					sv.label(i), how, port, early, out.note())
			}
			sv.logf("%s %s before listening; restarting in %s (attempt %d of %d)", name, how, backoff, early+1, maxEarlyExits)
		} else {
			if !restart {
				sv.logf("%s %s", name, how)
				return code, nil
			}
			if time.Since(started) > 10*time.Second {
				backoff = min(baseBackoff, sv.cfg.MaxBackoff) // it ran fine for a while: not a crash loop
			}
			sv.logf("%s %s; restarting in %s", name, how, backoff)
		}
		select {
		case <-time.After(backoff):
		case <-sv.stopping:
			return code, nil
		}
		backoff = min(backoff*2, sv.cfg.MaxBackoff)
	}
}

func (sv *supervisor) forget(i, port int) {
	sv.mu.Lock()
	delete(sv.procs, i)
	delete(sv.ports, port)
	sv.mu.Unlock()
}

// pickPort returns --port, or a free loopback port that no other replica holds and that differs
// from avoid (a restarted replica gets a new port, so a stale connection cannot reach it).
func (sv *supervisor) pickPort(avoid int) (int, error) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.cfg.Port != 0 {
		// Something else on the port would pass the "is it listening" check in the program's
		// place and be registered instead of it.
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(sv.cfg.Port)))
		if err != nil {
			return 0, &PortInUseError{Port: sv.cfg.Port}
		}
		ln.Close()
		sv.ports[sv.cfg.Port] = true
		return sv.cfg.Port, nil
	}
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("finding a free port: %w", err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if p != avoid && !sv.ports[p] {
			sv.ports[p] = true
			return p, nil
		}
	}
	return 0, errors.New("no free port found on 127.0.0.1")
}

// command builds the child process of replica i: its environment, its streams and its own
// process group (so that a terminal's Ctrl-C reaches it once, through oo).
func (sv *supervisor) command(i, port int, selfURL string) (*exec.Cmd, *childOutput) {
	cmd := exec.Command(sv.cfg.Argv[0], sv.cfg.Argv[1:]...)
	env := make([]string, 0, len(os.Environ())+10)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case sdk.EnvURL, sdk.EnvURLOB, sdk.EnvURLOpenOrch, sdk.EnvToken, sdk.EnvTokenFile, sdk.EnvSlug, sdk.EnvSelfURL, sdk.EnvPort, api.EnvReplica:
			continue // never leak the caller's own token or address into the service
		}
		env = append(env, kv)
	}
	env = append(env,
		sdk.EnvPort+"="+strconv.Itoa(port),
		sdk.EnvSelfURL+"="+selfURL,
		sdk.EnvURL+"="+sv.cfg.ServerURL,
		sdk.EnvURLOB+"="+sv.cfg.ServerURL,
		sdk.EnvURLOpenOrch+"="+sv.cfg.ServerURL,
		sdk.EnvSlug+"="+sv.cfg.Slug,
		api.EnvReplica+"="+strconv.Itoa(i),
	)
	if sv.cfg.ShareToken {
		env = append(env, sdk.EnvToken+"="+sv.cfg.Tokens.Current())
	}
	if sv.tokenFile != "" {
		env = append(env, sdk.EnvTokenFile+"="+sv.tokenFile)
	}
	cmd.Env = env
	cmd.Stdin = nil
	co := &childOutput{}
	if sv.cfg.Replicas == 1 {
		cmd.Stdout, cmd.Stderr = co.watch(sv.cfg.Out), co.watch(sv.cfg.ErrOut)
	} else {
		prefix := "[" + sv.name(i) + "] "
		out := &prefixWriter{mu: &sv.outMu, w: sv.cfg.Out, prefix: prefix}
		errw := &prefixWriter{mu: &sv.outMu, w: sv.cfg.ErrOut, prefix: prefix}
		cmd.Stdout, cmd.Stderr = co.watch(out), co.watch(errw)
		co.flushers = []func(){out.Flush, errw.Flush}
	}
	// A grandchild holding the output pipe open must not keep oo waiting forever.
	cmd.WaitDelay = 2 * time.Second
	setProcAttrs(cmd)
	return cmd, co
}

// waitListening polls the port until something accepts connections; it gives up when the
// process exits, when the start timeout passes or when oo is stopping.
func (sv *supervisor) waitListening(port int, exited <-chan struct{}) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.NewTimer(sv.cfg.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited")
		case <-sv.stopping:
			return errors.New("stopping")
		case <-deadline.C:
			return errNeverListened
		case <-tick.C:
		}
	}
}

// newLease is the registration of one replica at selfURL (nil when oo does not manage it).
func (sv *supervisor) newLease(selfURL string) *sdk.Lease {
	if sv.cfg.Tokens == nil {
		return nil
	}
	return &sdk.Lease{
		Client: sv.cfg.Client, Tokens: sv.cfg.Tokens, Slug: sv.cfg.Slug, URL: selfURL,
		HealthPath: sv.cfg.HealthPath, TTL: 3 * sv.cfg.Heartbeat, ForSlug: sv.cfg.ForSlug,
	}
}

func (sv *supervisor) register(ctx context.Context, l *sdk.Lease) (string, error) {
	if l == nil {
		return "", nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := l.Register(rctx); err != nil {
		return "", sv.explain(err)
	}
	return l.ID(), nil
}

// heartbeat beats until the process exits or oo is stopping (oo then deregisters before the
// program winds down, so no new request reaches it).
func (sv *supervisor) heartbeat(ctx context.Context, l *sdk.Lease, exited <-chan struct{}) {
	if l == nil {
		select {
		case <-exited:
		case <-sv.stopping:
		}
		return
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		select {
		case <-exited:
		case <-sv.stopping:
		}
		cancel()
	}()
	l.Run(hctx, sv.cfg.Heartbeat, func(err error) {
		if err != nil {
			sv.logf("heartbeat of %s failed (will keep trying): %v", l.URL, err)
		} else {
			sv.logf("heartbeat of %s ok again", l.URL)
		}
	})
}

func (sv *supervisor) deregister(l *sdk.Lease) {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Deregister(ctx); err != nil {
		sv.logf("could not deregister %s: %v (the server marks it down when heartbeats stop)", l.URL, sv.explain(err))
	}
}
