package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/proctest"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
)

var (
	svcTestServerOnce sync.Once
	svcTestServerBin  string
	svcTestServerErr  error
)

// svcTestServer builds testdata/svctestserver once, next to the oo binary (removed with it).
func svcTestServer(t *testing.T) string {
	t.Helper()
	svcTestServerOnce.Do(func() {
		svcTestServerBin = filepath.Join(filepath.Dir(ooBin), "svctestserver")
		out, err := exec.Command("go", "build", "-o", svcTestServerBin, "./testdata/svctestserver").CombinedOutput()
		if err != nil {
			svcTestServerErr = fmt.Errorf("building svctestserver: %v\n%s", err, out)
		}
	})
	if svcTestServerErr != nil {
		t.Fatal(svcTestServerErr)
	}
	return svcTestServerBin
}

// svcProc is a long-running oo (or example) process.
type svcProc struct {
	cmd  *exec.Cmd
	Out  *proctest.Output
	Err  *proctest.Output
	done chan struct{}
}

// svcStartProc starts name with args in e's environment, in a process group of its own. When
// the test ends a process still running gets SIGTERM, then its group SIGKILL after 15 s; then
// nothing may be left in its group (checkGroup).
func svcStartProc(t *testing.T, e *env, name string, args ...string) *svcProc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = e.Vars
	p := &svcProc{cmd: cmd, Out: &proctest.Output{}, Err: &proctest.Output{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Out, p.Err
	cmd.WaitDelay = 5 * time.Second
	inOwnGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		defer checkGroup(t, cmd)
		select {
		case <-p.done:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

// svcTouch creates the file a program waits for (svctestserver -exit-when).
func svcTouch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func svcRun(t *testing.T, e *env, args ...string) *svcProc {
	t.Helper()
	return svcStartProc(t, e, ooBin, append([]string{"service", "run", "--insecure-storage"}, args...)...)
}

// Wait waits (bounded) for the process to exit and returns its exit code.
func (p *svcProc) Wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("process did not exit within %v\nstdout:\n%s\nstderr:\n%s", d, p.Out, p.Err)
		return -1
	}
}

func (p *svcProc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// svcEventually polls cond every 50 ms until it holds or d passes.
func svcEventually(t *testing.T, d time.Duration, what string, cond func() bool, logs ...fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, l := range logs {
				b.WriteString("\n--- output:\n" + l.String())
			}
			t.Fatalf("timed out after %v waiting for %s%s", d, what, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// svcAdmin is an API client logged in as the e2e server's admin.
func svcAdmin(t *testing.T, srv *serverProc) *client.Client {
	t.Helper()
	c := client.New(srv.URL)
	tok, err := c.Login(context.Background(), "admin", adminPassword)
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	return c.WithToken(tok.Token)
}

func svcInstances(t *testing.T, admin *client.Client, slug string) []api.Instance {
	t.Helper()
	list, err := admin.ListInstances(context.Background(), client.InstanceFilter{Slug: slug})
	if err != nil {
		t.Fatalf("listing instances: %v", err)
	}
	return list
}

// svcHello is the child's answer through the proxy.
type svcHello struct {
	Hello   string `json:"hello"`
	PID     int    `json:"pid"`
	Port    string `json:"port"`
	Replica string `json:"replica"`
}

var svcHTTP = &http.Client{Timeout: 5 * time.Second}

func svcGetHello(base, slug string) (svcHello, int, error) {
	var h svcHello
	rsp, err := svcHTTP.Get(base + "/" + slug + "/hello")
	if err != nil {
		return h, 0, err
	}
	defer rsp.Body.Close()
	raw, _ := io.ReadAll(rsp.Body)
	if rsp.StatusCode != 200 {
		return h, rsp.StatusCode, fmt.Errorf("HTTP %d: %s", rsp.StatusCode, raw)
	}
	return h, 200, json.Unmarshal(raw, &h)
}

func svcWaitHello(t *testing.T, srv *serverProc, slug string, p *svcProc) svcHello {
	t.Helper()
	var h svcHello
	svcEventually(t, 30*time.Second, "GET /"+slug+"/hello through the proxy", func() bool {
		var err error
		h, _, err = svcGetHello(srv.URL, slug)
		return err == nil && h.Hello == "world"
	}, p.Out, p.Err)
	return h
}

// TestServiceRunProxiesAndStopsOnSIGINT: a child that also registers itself (as the seed program
// does) is reached through the proxy; SIGINT reaches it, removes its instance, and oo exits with
// the child's code.
func TestServiceRunProxiesAndStopsOnSIGINT(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.StartServer()
	e = e.With("OO_URL=" + srv.URL)
	admin := svcAdmin(t, srv)

	p := svcRun(t, e, "--slug", "svc-run", "--", svcTestServer(t), "-register-self", "-signal-code", "4")
	h := svcWaitHello(t, srv, "svc-run", p)
	if h.Replica != "1" || h.Port == "" {
		t.Fatalf("child env not passed: %+v", h)
	}
	list := svcInstances(t, admin, "svc-run")
	if len(list) != 1 || list[0].URL != "http://127.0.0.1:"+h.Port || list[0].Status != api.StatusHealthy {
		t.Fatalf("instances %+v, want one Healthy at port %s", list, h.Port)
	}
	if !strings.Contains(p.Out.String(), "svctestserver: registered itself") {
		t.Fatalf("the child's own registration failed:\n%s\n%s", p.Out, p.Err)
	}

	svcEventually(t, 10*time.Second, "oo to register the child", func() bool {
		return strings.Contains(p.Err.String(), "registered as")
	}, p.Err)
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, 30*time.Second); code != 4 {
		t.Errorf("oo exit code %d, want the child's 4\nstderr:\n%s", code, p.Err)
	}
	if !strings.Contains(p.Out.String(), "svctestserver: got interrupt") {
		t.Errorf("SIGINT was not forwarded to the child; stdout:\n%s", p.Out)
	}
	if list := svcInstances(t, admin, "svc-run"); len(list) != 0 {
		t.Fatalf("instances left after SIGINT: %+v\nstderr:\n%s", list, p.Err)
	}
	if _, code, _ := svcGetHello(srv.URL, "svc-run"); code == 200 {
		t.Fatal("the proxy still reaches the stopped service")
	}
}

// TestServiceRunRestartFollowsNewPort: a killed child comes back on a new port and the proxy
// follows it; the dead instance is gone from the registry.
func TestServiceRunRestartFollowsNewPort(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.StartServer()
	e = e.With("OO_URL=" + srv.URL)
	admin := svcAdmin(t, srv)

	p := svcRun(t, e, "--slug", "svc-restart", "--restart", "on-failure", "--", svcTestServer(t))
	first := svcWaitHello(t, srv, "svc-restart", p)
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var second svcHello
	svcEventually(t, 30*time.Second, "a new child to answer through the proxy", func() bool {
		h, _, err := svcGetHello(srv.URL, "svc-restart")
		second = h
		return err == nil && h.PID != first.PID
	}, p.Out, p.Err)
	if second.Port == first.Port {
		t.Errorf("restarted on the same port %s", first.Port)
	}
	svcEventually(t, 10*time.Second, "the registry to hold only the new instance", func() bool {
		list := svcInstances(t, admin, "svc-restart")
		return len(list) == 1 && list[0].URL == "http://127.0.0.1:"+second.Port
	})
	if !strings.Contains(p.Err.String(), "was killed by signal KILL; restarting") {
		t.Errorf("no restart notice on stderr:\n%s", p.Err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.Wait(t, 30*time.Second)
}

// TestServiceRunReplicasBalance: two replicas, both reached through the proxy, output prefixed.
func TestServiceRunReplicasBalance(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.StartServer()
	e = e.With("OO_URL=" + srv.URL)
	admin := svcAdmin(t, srv)

	p := svcRun(t, e, "--slug", "svc-rep", "--replicas", "2", "--", svcTestServer(t))
	svcEventually(t, 30*time.Second, "two Healthy instances", func() bool {
		n := 0
		for _, in := range svcInstances(t, admin, "svc-rep") {
			if in.Status == api.StatusHealthy {
				n++
			}
		}
		return n == 2
	}, p.Out, p.Err)
	seen := map[string]bool{}
	for range 20 {
		h, _, err := svcGetHello(srv.URL, "svc-rep")
		if err != nil {
			t.Fatal(err)
		}
		seen[h.Replica] = true
	}
	if !seen["1"] || !seen["2"] {
		t.Fatalf("20 requests reached replicas %v, want both 1 and 2", seen)
	}
	out := p.Out.String()
	if !strings.Contains(out, "[svc-rep-1] svctestserver: listening") || !strings.Contains(out, "[svc-rep-2] svctestserver: listening") {
		t.Errorf("replica output not prefixed:\n%s", out)
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Errorf("exit %d after SIGINT, want 0 (the children's)", code)
	}
	if list := svcInstances(t, admin, "svc-rep"); len(list) != 0 {
		t.Fatalf("instances left: %+v", list)
	}
}

// TestServiceRunExitCodes: oo exits with the child's code and deregisters it; a child that never
// listens is an error that shows its output.
func TestServiceRunExitCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.StartServer()
	e = e.With("OO_URL=" + srv.URL)
	admin := svcAdmin(t, srv)
	bin := svcTestServer(t)

	exitNow := filepath.Join(t.TempDir(), "exit-now")
	p := svcRun(t, e, "--slug", "svc-exit", "--", bin, "-exit-when", exitNow, "-code", "7")
	svcWaitHello(t, srv, "svc-exit", p)
	svcTouch(t, exitNow)
	if code := p.Wait(t, 30*time.Second); code != 7 {
		t.Fatalf("exit code %d, want 7\nstderr:\n%s", code, p.Err)
	}
	if list := svcInstances(t, admin, "svc-exit"); len(list) != 0 {
		t.Fatalf("instances left: %+v", list)
	}

	p = svcRun(t, e, "--slug", "svc-deaf", "--start-timeout", "1500ms", "--grace", "2s", "--", bin, "-never-listen")
	if code := p.Wait(t, 30*time.Second); code == 0 {
		t.Fatal("a child that never listens made oo exit 0")
	}
	if !strings.Contains(p.Err.String(), "did not listen") || !strings.Contains(p.Out.String(), "not listening on purpose") {
		t.Fatalf("want the reason and the child's output\nstdout:\n%s\nstderr:\n%s", p.Out, p.Err)
	}

	r := e.Run("", "service", "run", "--insecure-storage", "--slug", "svc-early", "--", bin, "-exit-after", "1ms", "-never-listen", "-code", "9")
	if r.Code != 9 || !strings.Contains(r.Stderr, "before listening") {
		t.Fatalf("early exit: code %d, stderr %q", r.Code, r.Stderr)
	}
}

// TestServiceRegisterIdempotentAndOwned: registering twice changes nothing, a given flag
// changes only its field, and another user can neither take the URL nor the slug.
func TestServiceRegisterIdempotentAndOwned(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.StartServer()
	e = e.With("OO_URL=" + srv.URL)
	admin := svcAdmin(t, srv)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"hello":"world"}`)
	})}
	go backend.Serve(ln)
	t.Cleanup(func() { backend.Close() })
	u := "http://" + ln.Addr().String()

	reg := func(e *env, args ...string) result {
		return e.Run("", append([]string{"service", "register", "--insecure-storage"}, args...)...)
	}
	r := reg(e, "svc-reg", "--url", u)
	if r.Code != 0 || !strings.Contains(r.Stderr, "Created service account svc-reg") || !strings.Contains(r.Stderr, "Registered "+u) {
		t.Fatalf("first register: %d %q", r.Code, r.Stderr)
	}
	list := svcInstances(t, admin, "svc-reg")
	if len(list) != 1 {
		t.Fatalf("instances %+v", list)
	}
	id := list[0].ID
	svcEventually(t, 15*time.Second, "the proxy to reach the registered server", func() bool {
		rsp, err := svcHTTP.Get(srv.URL + "/svc-reg/hello")
		if err != nil {
			return false
		}
		rsp.Body.Close()
		return rsp.StatusCode == 200
	})

	r = reg(e, "svc-reg", "--url", u)
	if r.Code != 0 || !strings.Contains(r.Stderr, "unchanged") || strings.Contains(r.Stderr, "Created") {
		t.Fatalf("second register: %d %q", r.Code, r.Stderr)
	}
	r = reg(e, "svc-reg", "--url", u+"/", "--health-path", "/healthz")
	if r.Code != 0 || !strings.Contains(r.Stderr, "Updated") {
		t.Fatalf("register with --health-path: %d %q", r.Code, r.Stderr)
	}
	r = reg(e, "svc-reg", "--url", u, "-o", "json")
	var inst api.Instance
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &inst) != nil {
		t.Fatalf("register -o json: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if inst.ID != id || inst.HealthPath != "/healthz" {
		t.Fatalf("after re-registering without --health-path: %+v, want id %s and /healthz kept", inst, id)
	}
	if list := svcInstances(t, admin, "svc-reg"); len(list) != 1 {
		t.Fatalf("re-registering made duplicates: %+v", list)
	}

	// Another user, another machine: the URL belongs to svc-reg, and so does the slug.
	other := newEnv(t).With("OO_URL=" + srv.URL)
	r = reg(other, "svc-thief", "--url", u)
	if r.Code != 6 || !strings.Contains(r.Stderr, "svc-reg") {
		t.Fatalf("taking an owned URL: exit %d %q, want 6 naming the owner", r.Code, r.Stderr)
	}
	r = reg(other, "svc-reg", "--url", "http://127.0.0.1:1")
	if r.Code != 6 || !strings.Contains(r.Stderr, "already taken") {
		t.Fatalf("using a taken slug: exit %d %q, want 6", r.Code, r.Stderr)
	}

	r = e.Run("", "service", "deregister", "--insecure-storage", "svc-reg")
	if r.Code != 0 || !strings.Contains(r.Stderr, "Deregistered "+u) {
		t.Fatalf("deregister: %d %q", r.Code, r.Stderr)
	}
	if list := svcInstances(t, admin, "svc-reg"); len(list) != 0 {
		t.Fatalf("instances after deregister: %+v", list)
	}
	r = e.Run("", "service", "deregister", "--insecure-storage", "svc-reg")
	if r.Code != 0 || !strings.Contains(r.Stderr, "nothing to deregister") {
		t.Fatalf("deregister again: %d %q, want 0 and nothing to deregister", r.Code, r.Stderr)
	}

	// Flags are checked before an account is created.
	r = reg(e, "svc-hp", "--url", u, "--health-path", "healthz")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--health-path") || strings.Contains(r.Stderr, "Created") {
		t.Fatalf("bad --health-path: exit %d %q, want 2 and nothing created", r.Code, r.Stderr)
	}
}

// TestServiceRunProgramOwnsItsAccount: a program that made its own account earlier (oo has no
// password for it) runs under `oo service run --self-register`: oo supervises, the program
// registers.
func TestServiceRunProgramOwnsItsAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.StartServer()
	tok, err := client.New(srv.URL).Register(context.Background(), api.RegisterRequest{Slug: "svc-seed", Name: "Seed", Password: "seed-password-123"})
	if err != nil {
		t.Fatal(err)
	}
	e = e.With("OO_URL="+srv.URL, "SVC_SEED_TOKEN="+tok.Token)

	// Without --self-register oo refuses: the program would run unregistered and unreachable.
	r := e.Run("", "service", "run", "--insecure-storage", "--slug", "svc-seed", "--", svcTestServer(t), "-register-self", "-token-env", "SVC_SEED_TOKEN")
	if r.Code != 4 || !strings.Contains(r.Stderr, "oo login svc-seed") || strings.Contains(r.Stdout, "svctestserver") {
		t.Fatalf("taken slug without --self-register: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}

	p := svcRun(t, e, "--self-register", "--slug", "svc-seed", "--", svcTestServer(t), "-register-self", "-token-env", "SVC_SEED_TOKEN")
	svcWaitHello(t, srv, "svc-seed", p)
	if !strings.Contains(p.Err.String(), "must register itself") {
		t.Errorf("no notice that oo does not manage the registration:\n%s", p.Err)
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Errorf("exit %d, want 0\n%s", code, p.Err)
	}
}

// TestServiceExamplePythonTakenSlug: the standalone Python example, when its slug was made by
// `oo service run` (password in the keyring, not in its file), says why it cannot register and
// what to do, and leaves no wrong password behind.
func TestServiceExamplePythonTakenSlug(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	script, _ := filepath.Abs("../examples/python/first_service.py")
	e := newEnv(t)
	srv := e.StartServer()
	if _, err := client.New(srv.URL).Register(context.Background(), api.RegisterRequest{Slug: "py-svc", Name: "Py", Password: "made-by-oo-service-run"}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script)
	cmd.Env = append(e.Vars, "OO_URL="+srv.URL, "SELF_URL=http://127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already exists") || !strings.Contains(string(out), "oo service run --slug py-svc") || !strings.Contains(string(out), "OO_SLUG") {
		t.Fatalf("want a failure that says why and what to do: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(e.Home, "data", "oo", "services", "py-svc.json")); !os.IsNotExist(err) {
		t.Fatalf("the password that was not py-svc's is kept: %v", err)
	}
}

// TestServiceRunChildDiesWithOO: when oo itself is killed (SIGKILL: no chance to stop its
// program), the kernel sends the program SIGTERM, so it does not keep serving unsupervised.
func TestServiceRunChildDiesWithOO(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("only Linux ties a child's life to its parent's (PR_SET_PDEATHSIG)")
	}
	e := newEnv(t)
	srv := e.StartServer()
	e = e.With("OO_URL=" + srv.URL)
	p := svcRun(t, e, "--slug", "svc-orphan", "--", svcTestServer(t))
	h := svcWaitHello(t, srv, "svc-orphan", p)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.Wait(t, 10*time.Second)
	// The port is the observable: a reaped or zombie child no longer holds its listener.
	svcEventually(t, 10*time.Second, "the orphaned program to stop listening on port "+h.Port, func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+h.Port, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, p.Out, p.Err)
}

// TestServiceRunStopsLeftoverGroup: a program that exits by itself while something it started
// in its process group still listens (here a shell whose background svctestserver holds $PORT)
// takes that with it: oo exits with the program's code and the port stops listening.
func TestServiceRunStopsLeftoverGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.StartServer()
	e = e.With("OO_URL=" + srv.URL)

	// The shell exits once the test has reached its background server, not after a guessed time.
	exitNow := filepath.Join(t.TempDir(), "exit-now")
	p := svcRun(t, e.With("EXIT_NOW="+exitNow), "--slug", "ex", "--", "sh", "-c", svcTestServer(t)+` & while [ ! -e "$EXIT_NOW" ]; do sleep 0.05; done; exit 7`)
	h := svcWaitHello(t, srv, "ex", p)
	t.Cleanup(func() {
		if t.Failed() && h.PID > 0 {
			_ = syscall.Kill(h.PID, syscall.SIGKILL) // not left running after this test
		}
	})
	svcTouch(t, exitNow)
	if code := p.Wait(t, 30*time.Second); code != 7 {
		t.Fatalf("exit code %d, want the shell's 7\nstderr:\n%s", code, p.Err)
	}
	svcEventually(t, 5*time.Second, "the background svctestserver to stop listening on port "+h.Port, func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+h.Port, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, p.Out, p.Err)
}
