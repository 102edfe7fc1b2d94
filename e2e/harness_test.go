// Package e2e drives the real oo binary, built once per run, against a real `oo server start`
// on loopback, as a user would from a shell.
package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/proctest"
)

// ooBin is the binary under test, built by TestMain.
var ooBin string

const adminPassword = "admin-password-for-e2e"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "oo-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ooBin = filepath.Join(dir, "oo")
	build := exec.Command("go", "build", "-o", ooBin, "../cmd/oo")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building oo:", err)
		os.Exit(1)
	}
	// The tests spend their time waiting on processes and timers, not on the CPU: unless told
	// otherwise (-parallel), run more of them at once than go test's default of one per CPU.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", strconv.Itoa(max(4, 2*runtime.GOMAXPROCS(0))))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is an isolated user environment: its own XDG dirs and HOME, so that nothing reads or
// writes the real user's config, data or keyring files. Every process started with it carries
// the test's owner mark (internal/proctest), and the test fails if one outlives it.
type env struct {
	t    *testing.T
	Home string
	Vars []string // KEY=VALUE, on top of a minimal base environment
}

func newEnv(t *testing.T) *env {
	home := t.TempDir()
	e := &env{t: t, Home: home}
	mark := proctest.NewMark()
	// Registered first, so it runs last: after every process of the test has been stopped.
	t.Cleanup(func() { checkLeftovers(t, mark) })
	e.Vars = []string{
		mark,
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_DATA_HOME=" + filepath.Join(home, "data"),
		"XDG_STATE_HOME=" + filepath.Join(home, "state"),
		"XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
		"PATH=" + os.Getenv("PATH"),
		"NO_COLOR=1",
		"OO_ADMIN_PASSWORD=" + adminPassword,
	}
	// Keep the test harness's D-Bus session (a real keyring in CI) visible to the binary.
	for _, k := range []string{"DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"} {
		if v := os.Getenv(k); v != "" {
			e.Vars = append(e.Vars, k+"="+v)
		}
	}
	return e
}

// With returns a copy of e with more variables (later ones win).
func (e *env) With(kv ...string) *env {
	c := *e
	c.Vars = append(append([]string(nil), e.Vars...), kv...)
	return &c
}

// result is what one run of oo did.
type result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs oo with args and stdin (may be empty), bounded to 60s.
func (e *env) Run(stdin string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ooBin, args...)
	cmd.Env = e.Vars
	inOwnGroup(cmd)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	defer checkGroup(e.t, cmd)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("oo %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// serverProc is a running `oo server start`.
type serverProc struct {
	URL  string
	Addr string
	Cmd  *exec.Cmd
	Log  *proctest.Output
}

// StartServer runs `oo server start` on a loopback port of the kernel's choosing (--addr
// 127.0.0.1:0, read back from its log: a port picked in advance could be taken by a test
// running in parallel before the server binds it) with e's data dir, and waits until it
// answers. It is stopped with SIGTERM when the test ends.
func (e *env) StartServer(extraArgs ...string) *serverProc {
	e.t.Helper()
	args := append([]string{"server", "start", "--addr", "127.0.0.1:0"}, extraArgs...)
	cmd := exec.Command(ooBin, args...)
	cmd.Env = e.Vars
	log := &proctest.Output{}
	cmd.Stdout, cmd.Stderr = log, log
	inOwnGroup(cmd)
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	p := &serverProc{Cmd: cmd, Log: log}
	e.t.Cleanup(func() { p.Stop(); checkGroup(e.t, cmd) })
	ready := func() bool {
		if p.Addr == "" {
			m := listeningRE.FindStringSubmatch(log.String())
			if m == nil {
				return false
			}
			p.Addr, p.URL = m[1]+m[2], "http://"+m[1]+m[2]
		}
		rsp, err := http.Get(p.URL + "/user-svc/public-key")
		if err != nil {
			return false
		}
		rsp.Body.Close()
		return rsp.StatusCode == http.StatusOK
	}
	const within = 30 * time.Second
	for deadline := time.Now().Add(within); !ready(); time.Sleep(20 * time.Millisecond) {
		if runtime.GOOS == "linux" && proctest.Zombie(cmd.Process.Pid) { // exited; p.Stop reaps it
			e.t.Fatalf("oo server start exited before answering; log:\n%s", log.String())
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("oo server start did not answer within %s; log:\n%s", within, log.String())
		}
	}
	return p
}

// listeningRE finds the address in the server's "listening" line, as text or JSON log.
var listeningRE = regexp.MustCompile(`oo server listening.*?addr"?[=:]"?(127\.0\.0\.1:)(\d+)`)

// Stop sends SIGTERM and waits (bounded) for exit.
func (p *serverProc) Stop() {
	if p.Cmd.ProcessState != nil {
		return
	}
	_ = p.Cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// newSlugEnv is a fresh environment (no keyring) with a real server holding the account slug
// and one instance under it, a backend answering "hi"; the environment is pointed at the server
// with that account's token (OO_URL, OO_TOKEN), as after `oo login`.
func newSlugEnv(t *testing.T, slug string) (e *env, srv *serverProc, token string) {
	t.Helper()
	e = newEnv(t).With(cliNoKeyring)
	srv = e.StartServer()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	t.Cleanup(backend.Close)
	token = serverAddInstance(t, srv.URL, slug, backend.URL)
	return e.With("OO_URL="+srv.URL, "OO_TOKEN="+token), srv, token
}

// bgProc is an oo command left running while the test talks to it (oo logs, oo top).
type bgProc struct {
	Cmd *exec.Cmd
	Out *proctest.Output // its stdout (or its terminal's screen)
	Err *proctest.Output // its stderr; nil when it shares Out's terminal
	// done holds its exit once it has ended; whoever reads it puts it back, so it can be read
	// again (by Wait and by the cleanup).
	done chan error
}

// Start runs oo with args in the background, in a process group of its own, collecting its
// output. The group is killed, and checked for leftovers, when the test ends.
func (e *env) Start(args ...string) *bgProc {
	e.t.Helper()
	cmd := exec.Command(ooBin, args...)
	cmd.Env = e.Vars
	inOwnGroup(cmd)
	p := &bgProc{Out: &proctest.Output{}, Err: &proctest.Output{}}
	cmd.Stdout, cmd.Stderr = p.Out, p.Err
	startBg(e.t, cmd, p)
	return p
}

// startBg starts cmd, which the caller made the leader of a process group (inOwnGroup, or a
// session of its own) and gave its stdio, as p.
func startBg(t *testing.T, cmd *exec.Cmd, p *bgProc) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.Cmd, p.done = cmd, make(chan error, 1)
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		p.done <- <-p.done
		checkGroup(t, cmd)
	})
}

// Wait returns the exit code, failing the test if the command still runs after within.
func (p *bgProc) Wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		stderr := ""
		if p.Err != nil {
			stderr = p.Err.String()
		}
		t.Fatalf("%s still running after %s\nstdout: %q\nstderr: %s", strings.Join(p.Cmd.Args, " "), within, p.Out.String(), stderr)
	}
	return -1
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
