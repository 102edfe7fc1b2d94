package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/sdk"
)

type runOptions struct {
	slug         string
	port         int
	replicas     int
	restart      string
	healthPath   string
	grace        time.Duration
	startTimeout time.Duration
	heartbeat    time.Duration
	maxBackoff   time.Duration
	insecure     bool
	selfRegister bool
}

const (
	restartNo        = "no"
	restartOnFailure = "on-failure"
	restartAlways    = "always"
)

func newRunCmd(f *cmdutil.Factory) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARGS...]",
		Short: "Launch a service, put it behind the proxy and supervise it",
		Long: `Run COMMAND as the service SLUG and route SERVER/SLUG/... to it.

SLUG defaults to the command's name ("./mysvc" gives mysvc). For an interpreter or runner
(python3, node, go, ruby, java, bash, deno, bun, uv, npx, ...) it is the script's name instead
("python3 app.py" gives app, "go run ./cmd/hello-svc" gives hello-svc); with no script to name
it ("python3 -m pkg", "npm start") --slug is required.

For each replica oo picks a free port on 127.0.0.1 (or uses --port), starts COMMAND with
  PORT, SELF_URL       where to listen: http://127.0.0.1:$PORT
  OO_URL, OB_URL, OPENORCH_URL   the oo server
  OO_TOKEN, OO_SLUG    the service account's token and slug
  OO_TOKEN_FILE        a private file holding the account's current token: oo logs in again
                       before each token expires (or when it is refused) and rewrites the file,
                       so a program that runs longer than a token lives reads its token there
  OO_REPLICA           1, 2, ...
waits until it listens (--start-timeout), registers the instance, heartbeats while it runs and
deregisters it when it exits. A program that registers itself (as programs written for
1Backend/OpenOrch do, with the same SELF_URL) works unchanged.

The service account is created on first use with a random password kept in the OS keyring,
once COMMAND is found to be executable; it is kept (and reused by later runs) even if the
program then fails to start. If the account SLUG exists and oo has no password for it, log in
as SLUG or as an admin first, or choose another --slug; --self-register is for a program that
registers itself with its own credentials, which oo then only launches and supervises.

--restart on-failure (or always) also restarts a program that exits before it ever listened,
with the same backoff, but gives up after 5 such starts in a row; a program that does not
listen within --start-timeout is not restarted (it probably does not read $PORT).

Output of the program passes through, prefixed with [SLUG-N] when there is more than one
replica. Ctrl-C or SIGTERM is forwarded to the program, which gets --grace to exit before it
is killed. Whenever the program exits, what it started in its process group and left running
gets SIGTERM, then SIGKILL after --grace. oo exits with the program's exit code. If oo itself
is killed (SIGKILL), the program gets SIGTERM from the kernel on Linux rather than running on
unsupervised.`,
		Example: `  oo service run -- ./mysvc
  oo service run --slug hello-svc -- go run ./examples/go
  oo service run --replicas 2 --restart on-failure -- python3 app.py
  oo service run --port 9311 --slug skeleton-svc -- ./skeleton    # a program with a fixed port`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), f, o, args)
		},
	}
	// Everything after COMMAND belongs to it, even without "--".
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.StringVar(&o.slug, "slug", "", "the service's slug (default: COMMAND's name, or its script's for an interpreter)")
	fl.IntVar(&o.port, "port", 0, "listen port for a single replica (default: a free port)")
	fl.IntVar(&o.replicas, "replicas", 1, "how many copies to run; the proxy balances across them")
	fl.StringVar(&o.restart, "restart", restartNo, "restart policy: no, on-failure or always (with exponential backoff)")
	fl.StringVar(&o.healthPath, "health-path", "", "have the server probe this path with GET instead of a TCP connect")
	fl.DurationVar(&o.grace, "grace", 10*time.Second, "how long the program may take to exit after SIGINT/SIGTERM before it is killed")
	fl.DurationVar(&o.startTimeout, "start-timeout", 30*time.Second, "how long the program may take to start listening")
	fl.DurationVar(&o.heartbeat, "heartbeat", 5*time.Second, "heartbeat interval; the server marks an instance down after three missed beats")
	fl.DurationVar(&o.maxBackoff, "max-backoff", 30*time.Second, "longest wait between restarts")
	fl.BoolVar(&o.insecure, "insecure-storage", false, "keep the service account's password in a plain-text 0600 file instead of the OS keyring (or set OO_INSECURE_STORAGE=1)")
	fl.BoolVar(&o.selfRegister, "self-register", false, "the program registers itself: run it even when SLUG's account exists and oo has no password for it")
	return cmd
}

func (o *runOptions) check() error {
	switch o.restart {
	case restartNo, restartOnFailure, restartAlways:
	default:
		return cmdutil.Usagef("--restart must be no, on-failure or always, not %q", o.restart)
	}
	if o.replicas < 1 {
		return cmdutil.Usagef("--replicas must be at least 1")
	}
	if o.port != 0 && o.replicas > 1 {
		return cmdutil.Usagef("--port fixes the port of a single replica; leave it out with --replicas %d", o.replicas)
	}
	if o.port < 0 || o.port > 65535 {
		return cmdutil.Usagef("--port %d is not a port", o.port)
	}
	if o.grace <= 0 || o.startTimeout <= 0 || o.heartbeat <= 0 || o.maxBackoff <= 0 {
		return cmdutil.Usagef("--grace, --start-timeout, --heartbeat and --max-backoff must be positive")
	}
	return checkHealthPath(o.healthPath)
}

func runRun(ctx context.Context, f *cmdutil.Factory, o *runOptions, argv []string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := o.check(); err != nil {
		return err
	}
	slug := o.slug
	if slug == "" {
		slug = SlugFromCommand(argv)
		if slug == "" && isInterpreter(argv[0]) {
			return cmdutil.Usagef("%s is an interpreter or runner and %q names no script to derive a slug from: give one with --slug", filepath.Base(argv[0]), strings.Join(argv, " "))
		}
		if validSlug(slug) != nil {
			return cmdutil.Usagef("cannot make a slug from %q: give one with --slug", strings.Join(argv, " "))
		}
	} else if err := validSlug(slug); err != nil {
		return err
	}
	// Before anything is created: a command that cannot be run gets no account.
	if _, err := exec.LookPath(argv[0]); err != nil {
		return cmdutil.WithCode(127, fmt.Errorf("cannot run %s: %w (check the name, or give its path)", argv[0], err))
	}

	// Signals are caught before anything is registered, so that Ctrl-C at any point cleans up.
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)

	s, err := sessionFor(f)
	if err != nil {
		return err
	}
	id, err := resolveIdentity(ctx, f, s, slug, o.insecure, true)
	var taken *sdk.AccountTakenError
	if err != nil && errors.As(err, &taken) {
		if !o.selfRegister {
			// Running it anyway would leave it unregistered and unreachable.
			who := "you are not logged in"
			if s.Token != "" {
				who = "you are logged in as " + s.Slug
			}
			return cmdutil.WithCode(cmdutil.ExitAuth, fmt.Errorf(
				"the service account %s exists and oo has no password for it for env %s (%s): log in as %s (oo login %s) or as an admin, choose another --slug, or add --self-register if the program registers itself",
				slug, s.Env, who, slug, slug))
		}
		// The account exists and only the program knows its password, as with a program written
		// for 1Backend that ran on its own before: supervise it and let it register itself.
		id = &identity{slug: slug, unmanaged: true}
		err = nil
	}
	if err != nil {
		return err
	}
	sv := &supervisor{
		o: o, slug: slug, argv: argv, id: id, serverURL: s.URL, f: f,
		stopping: make(chan struct{}), killNow: make(chan struct{}), procs: map[int]*exec.Cmd{}, ports: map[int]bool{},
	}
	if id.created {
		sv.logf("created service account %s (password in %s)", slug, id.where)
	}
	if id.onBehalf {
		sv.logf("acting for %s as %s; the program gets no OO_TOKEN", slug, s.Slug)
	}
	if id.unmanaged {
		sv.logf("the account %s exists and oo has no password for it: the program must register itself, and oo "+
			"will not register, heartbeat or deregister it (log in as %s or as an admin to change that)", slug, slug)
	}
	return sv.run(ctx, sigc)
}

// supervisor runs the replicas of one service and owns their registry entries.
type supervisor struct {
	f         *cmdutil.Factory
	o         *runOptions
	slug      string
	argv      []string
	id        *identity
	serverURL string

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
	if sv.id.token != "" {
		// The programs get the account's token in a file that oo keeps current, so that they
		// outlive its expiry as oo does.
		stopTokens, err := sv.shareToken()
		if err != nil {
			return err
		}
		defer stopTokens()
	}
	results := make(chan replicaResult, sv.o.replicas)
	for i := 1; i <= sv.o.replicas; i++ {
		go func() {
			code, err := sv.replica(ctx, i)
			results <- replicaResult{code, err}
		}()
	}
	allDone := make(chan struct{})
	go sv.watchSignals(ctx, sigc, allDone)

	first := replicaResult{}
	for range sv.o.replicas {
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
		code := first.code
		if code == 0 {
			code = cmdutil.ExitCode(first.err)
		}
		return &cmdutil.ExitCodeError{Code: code, Err: first.err}
	case first.code != 0:
		return &cmdutil.ExitCodeError{Code: first.code, Silent: true}
	}
	return nil
}

// shareToken writes the service account's token to a private file for the programs, keeps it
// renewed ahead of its expiry and rewrites the file with each new token, until the returned
// function is called (which removes the file).
func (sv *supervisor) shareToken() (func(), error) {
	dir, err := os.MkdirTemp("", "oo-service-"+sv.slug+"-")
	if err != nil {
		return nil, fmt.Errorf("creating the token file of %s: %w", sv.slug, err)
	}
	path := filepath.Join(dir, "token")
	write := func(tok string) error {
		tmp, err := os.CreateTemp(dir, ".token-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		if _, err := io.WriteString(tmp, tok+"\n"); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		// Renamed into place: a program never reads half a token.
		return os.Rename(tmp.Name(), path)
	}
	if err := write(sv.id.tokens.Current()); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("writing the token file of %s: %w", sv.slug, err)
	}
	sv.tokenFile = path
	sv.id.tokens.OnChange(func(tok string) {
		if err := write(tok); err != nil {
			sv.logf("could not update the token file %s: %v", path, err)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sv.id.tokens.KeepFresh(ctx, func(err error) {
			if err != nil {
				sv.logf("renewing the token of %s failed (will keep trying): %v", sv.slug, err)
			} else {
				sv.logf("renewed the token of %s", sv.slug)
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
		sv.logf("%s: stopping %s (again to kill at once)", sig, sv.slug)
		sv.stop(sig)
	}
	t := time.NewTimer(sv.o.grace)
	defer t.Stop()
	select {
	case <-sigc:
	case <-t.C:
		sv.logf("%s did not exit within %s; killing it", sv.slug, sv.o.grace)
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
	if sv.o.replicas == 1 {
		return sv.slug
	}
	return fmt.Sprintf("%s-%d", sv.slug, i)
}

func (sv *supervisor) logf(format string, args ...any) {
	sv.outMu.Lock()
	defer sv.outMu.Unlock()
	fmt.Fprintf(sv.f.IOStreams.ErrOut, "oo: "+format+"\n", args...)
}

var errNeverListened = errors.New("never listened")

// maxEarlyExits bounds the restarts of a program that keeps exiting before it ever listened.
const maxEarlyExits = 5

// label names replica i and, when the slug does not already say it, the command it runs.
func (sv *supervisor) label(i int) string {
	name := sv.name(i)
	if base := filepath.Base(sv.argv[0]); base != sv.slug {
		name += " (" + base + ")"
	}
	return name
}

// replica runs one copy until it exits for good and returns its last exit code.
func (sv *supervisor) replica(ctx context.Context, i int) (int, error) {
	const baseBackoff = 500 * time.Millisecond
	backoff := min(baseBackoff, sv.o.maxBackoff)
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
			return 127, fmt.Errorf("cannot start %s: %w", sv.argv[0], err)
		}
		lease := sv.newLease(selfURL)
		exited := make(chan struct{})
		sv.groups.Add(1)
		go func() {
			_ = cmd.Wait()
			// Whatever the program started in its process group and left running goes too, in
			// the background: a restart does not wait for it.
			go func() { defer sv.groups.Done(); endGroup(cmd, sv.o.grace, sv.killNow) }()
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
			if sv.id.unmanaged {
				sv.logf("%s (pid %d) listening on %s", name, cmd.Process.Pid, selfURL)
			} else {
				sv.logf("%s (pid %d) listening on %s, registered as %s; reach it at %s/%s/",
					name, cmd.Process.Pid, selfURL, instID, sv.serverURL, sv.slug)
			}
			sv.heartbeat(ctx, lease, exited)
		case errors.Is(ready, errNeverListened):
			signalProc(cmd, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(sv.o.grace):
				killProc(cmd)
				<-exited
			}
			msg := fmt.Sprintf("%s did not listen on 127.0.0.1:%d within %s and was stopped: does it listen on $PORT? (--port for a fixed port, --start-timeout for a slower start)%s",
				sv.label(i), port, sv.o.startTimeout, out.note())
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
		restart := sv.o.restart == restartAlways || (sv.o.restart == restartOnFailure && code != 0)
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
				backoff = min(baseBackoff, sv.o.maxBackoff) // it ran fine for a while: not a crash loop
			}
			sv.logf("%s %s; restarting in %s", name, how, backoff)
		}
		select {
		case <-time.After(backoff):
		case <-sv.stopping:
			return code, nil
		}
		backoff = min(backoff*2, sv.o.maxBackoff)
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
	if sv.o.port != 0 {
		// Something else on the port would pass the "is it listening" check in the program's
		// place and be registered instead of it.
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(sv.o.port)))
		if err != nil {
			return 0, cmdutil.WithCode(cmdutil.ExitConflict, fmt.Errorf("--port %d: 127.0.0.1:%d is already in use", sv.o.port, sv.o.port))
		}
		ln.Close()
		sv.ports[sv.o.port] = true
		return sv.o.port, nil
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
	cmd := exec.Command(sv.argv[0], sv.argv[1:]...)
	env := make([]string, 0, len(os.Environ())+10)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case sdk.EnvURL, sdk.EnvURLOB, sdk.EnvURLOpenOrch, sdk.EnvToken, sdk.EnvTokenFile, sdk.EnvSlug, sdk.EnvSelfURL, sdk.EnvPort, "OO_REPLICA":
			continue // never leak the caller's own token or address into the service
		}
		env = append(env, kv)
	}
	env = append(env,
		sdk.EnvPort+"="+strconv.Itoa(port),
		sdk.EnvSelfURL+"="+selfURL,
		sdk.EnvURL+"="+sv.serverURL,
		sdk.EnvURLOB+"="+sv.serverURL,
		sdk.EnvURLOpenOrch+"="+sv.serverURL,
		sdk.EnvSlug+"="+sv.slug,
		"OO_REPLICA="+strconv.Itoa(i),
	)
	if sv.id.token != "" {
		env = append(env, sdk.EnvToken+"="+sv.id.tokens.Current())
	}
	if sv.tokenFile != "" {
		env = append(env, sdk.EnvTokenFile+"="+sv.tokenFile)
	}
	cmd.Env = env
	cmd.Stdin = nil
	ios := sv.f.IOStreams
	co := &childOutput{}
	if sv.o.replicas == 1 {
		cmd.Stdout, cmd.Stderr = co.watch(ios.Out), co.watch(ios.ErrOut)
	} else {
		prefix := "[" + sv.name(i) + "] "
		out := &prefixWriter{mu: &sv.outMu, w: ios.Out, prefix: prefix}
		errw := &prefixWriter{mu: &sv.outMu, w: ios.ErrOut, prefix: prefix}
		cmd.Stdout, cmd.Stderr = co.watch(out), co.watch(errw)
		co.flushers = []func(){out.Flush, errw.Flush}
	}
	// A grandchild holding the output pipe open must not keep oo waiting forever.
	cmd.WaitDelay = 2 * time.Second
	setProcAttrs(cmd)
	return cmd, co
}

// childOutput tells whether a program wrote anything, so that an error points at its output
// only when there is some. A terminal or file is handed to the program as is (it may check
// isatty), and what it writes there is not seen: then nothing is said.
type childOutput struct {
	wrote    atomic.Bool
	flushers []func()
}

func (co *childOutput) watch(w io.Writer) io.Writer {
	if _, ok := w.(*os.File); ok {
		return w
	}
	return &seenWriter{w: w, seen: &co.wrote}
}

func (co *childOutput) flush() {
	for _, f := range co.flushers {
		f()
	}
}

// note is " (its output is above)" when the program wrote something oo saw.
func (co *childOutput) note() string {
	if co.wrote.Load() {
		return " (its output is above)"
	}
	return ""
}

type seenWriter struct {
	w    io.Writer
	seen *atomic.Bool
}

func (s *seenWriter) Write(b []byte) (int, error) {
	if len(b) > 0 {
		s.seen.Store(true)
	}
	return s.w.Write(b)
}

// waitListening polls the port until something accepts connections; it gives up when the
// process exits, when the start timeout passes or when oo is stopping.
func (sv *supervisor) waitListening(port int, exited <-chan struct{}) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.NewTimer(sv.o.startTimeout)
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
	if sv.id.unmanaged {
		return nil
	}
	return &sdk.Lease{
		Client: sv.id.c, Tokens: sv.id.tokens, Slug: sv.slug, URL: selfURL,
		HealthPath: sv.o.healthPath, TTL: 3 * sv.o.heartbeat, ForSlug: sv.id.forSlug(),
	}
}

func (sv *supervisor) register(ctx context.Context, l *sdk.Lease) (string, error) {
	if l == nil {
		return "", nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := l.Register(rctx); err != nil {
		return "", sv.f.Explain(err)
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
	l.Run(hctx, sv.o.heartbeat, func(err error) {
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
		sv.logf("could not deregister %s: %v (the server marks it down when heartbeats stop)", l.URL, sv.f.Explain(err))
	}
}

// interpreters run a script named by their first non-flag argument, which then names the
// service better than the interpreter does. Package-script runners (npm start, yarn dev) name
// no script at all.
var interpreters = map[string]bool{
	"python": true, "python2": true, "python3": true, "pypy": true, "pypy3": true, "node": true, "nodejs": true,
	"deno": true, "bun": true, "ruby": true, "perl": true, "php": true, "sh": true, "bash": true, "zsh": true,
	"dash": true, "fish": true, "java": true, "go": true, "uv": true, "npx": true, "pnpx": true, "bunx": true,
	"dotnet": true, "lua": true, "elixir": true, "racket": true, "Rscript": true,
}

var scriptRunners = map[string]bool{"npm": true, "pnpm": true, "yarn": true}

// interpreterName is a command's name without its directory, an .exe or, for a known
// interpreter, a version ("/usr/bin/python3.11" is python, "node18" is node).
func interpreterName(cmd string) string {
	name := strings.TrimSuffix(filepath.Base(cmd), ".exe")
	if interpreters[name] || scriptRunners[name] {
		return name
	}
	if v := strings.TrimRight(name, "0123456789."); v != name && (interpreters[v] || scriptRunners[v]) {
		return v
	}
	return name
}

func isInterpreter(cmd string) bool {
	n := interpreterName(cmd)
	return interpreters[n] || scriptRunners[n]
}

// SlugFromCommand derives a slug from a command line: the program's base name, or the script's
// for an interpreter ("python3 app.py" gives "app"), lowercased with anything outside [a-z0-9-]
// turned into '-'. It returns "" when nothing usable is left, and for an interpreter or runner
// with no script to name ("python3 -m http.server", "npm start", "/usr/bin/python3.11").
func SlugFromCommand(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	name := filepath.Base(argv[0])
	name = strings.TrimSuffix(name, filepath.Ext(name))
	if in := interpreterName(argv[0]); scriptRunners[in] {
		return ""
	} else if interpreters[in] {
		name = ""
	scan:
		for _, a := range argv[1:] {
			switch {
			case a == "-m" || a == "-c" || a == "-e" || a == "--eval" || a == "-r" || a == "--":
				break scan // a module or inline code: no script file names the service
			case strings.HasPrefix(a, "-") || a == "run" || a == "exec" || a == "x":
				continue
			}
			if a == "." || a == "./" {
				if wd, err := os.Getwd(); err == nil {
					a = wd
				}
			}
			name = strings.TrimSuffix(filepath.Base(strings.TrimRight(a, "/")), filepath.Ext(a))
			break
		}
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	return s
}

// prefixWriter writes whole lines with a prefix, under a lock shared by all replicas so lines
// never interleave mid-way.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		if _, err := io.WriteString(p.w, p.prefix+string(p.buf[:i+1])); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
	// A program that never ends its line still gets seen.
	if len(p.buf) > 64<<10 {
		_, _ = io.WriteString(p.w, p.prefix+string(p.buf)+"\n")
		p.buf = p.buf[:0]
	}
	return len(b), nil
}

// Flush writes a last unterminated line.
func (p *prefixWriter) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		_, _ = io.WriteString(p.w, p.prefix+string(p.buf)+"\n")
		p.buf = p.buf[:0]
	}
}
