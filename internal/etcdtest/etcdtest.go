// Package etcdtest gives tests a real etcd: one member on free loopback ports, its data in the
// test's temporary directory, in a process group of its own that the test's cleanup kills and
// reaps (on success and on failure). Its log is kept in a file whose tail is printed when the
// test fails.
//
// The binary is $OO_ETCD_BIN or `etcd` on PATH (Debian's etcd-server package: etcd 3.4). Where
// there is none the test is skipped with the reason, unless OO_REQUIRE_ETCD=1 (CI sets it),
// which turns the skip into a failure: CI must not pass without running the etcd tests.
//
// Besides starting it, a test can kill etcd (Stop), bring it back on the same data and ports
// (Restart), and freeze it so that connections hang instead of failing (Pause, Resume).
package etcdtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ooctl/oo/internal/randid"
)

const (
	// BinEnv names the etcd binary to run instead of `etcd` from PATH.
	BinEnv = "OO_ETCD_BIN"
	// RequireEnv makes a missing etcd a failure instead of a skip.
	RequireEnv = "OO_REQUIRE_ETCD"
)

// ReadyTimeout bounds the wait for a started etcd to answer /health; generous, for a loaded
// machine.
const ReadyTimeout = 60 * time.Second

// Option changes how Start runs etcd.
type Option func(*options)

type options struct {
	tls   bool
	auth  bool
	extra []string
}

// WithTLS serves the client URL over TLS with a throwaway CA, server and client certificate,
// and requires a client certificate signed by that CA (--client-cert-auth).
func WithTLS() Option { return func(o *options) { o.tls = true } }

// WithAuth enables etcd's authentication with a root user (RootUser) and a fresh password:
// every request needs the credentials from Credentials.
func WithAuth() Option { return func(o *options) { o.auth = true } }

// WithArgs adds etcd command-line flags, e.g. "--max-txn-ops=8".
func WithArgs(args ...string) Option {
	return func(o *options) { o.extra = append(o.extra, args...) }
}

// RootUser is the user WithAuth creates.
const RootUser = "root"

// TLSFiles are the client's certificate, key and the CA that signed the server's certificate.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// Etcd is one running (or stopped) etcd member.
type Etcd struct {
	bin      string
	dir      string // the test's directory: data/, etcd.log, tls/
	logPath  string
	client   string // client URL
	peer     string // peer URL
	tlsFiles *TLSFiles
	password string
	extra    []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has been reaped
}

// Bin finds the etcd binary: $OO_ETCD_BIN, else `etcd` on PATH.
func Bin() (string, error) {
	if p := os.Getenv(BinEnv); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinEnv, p, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("etcd")
	if err != nil {
		return "", fmt.Errorf("etcd not found in PATH and %s unset", BinEnv)
	}
	return p, nil
}

// Unavailable skips or fails t (see RequireEnv) with why.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("real etcd test required (%s=1) but cannot run: %s", RequireEnv, why)
		return
	}
	t.Skipf("no etcd: %s (install Debian's etcd-server or set %s; set %s=1 to make this fatal)", why, BinEnv, RequireEnv)
}

// Start runs a fresh single-member etcd for the rest of the test and returns once it answers.
func Start(t testing.TB, opts ...Option) *Etcd {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	bin, err := Bin()
	if err != nil {
		Unavailable(t, err.Error())
		return nil
	}
	e := &Etcd{bin: bin, dir: t.TempDir(), extra: o.extra}
	e.logPath = filepath.Join(e.dir, "etcd.log")
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("etcd log (%s), last lines:\n%s", e.logPath, tail(e.logPath, 40))
		}
	})
	if o.tls {
		files, err := writeCerts(filepath.Join(e.dir, "tls"))
		if err != nil {
			t.Fatalf("etcdtest: certificates: %v", err)
		}
		e.tlsFiles = files
	}
	// The ports are picked free, then released for etcd to bind: another process may take one
	// meanwhile, so a start that fails to bind is retried on new ports.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if lastErr = e.pickPorts(); lastErr != nil {
			continue
		}
		if lastErr = e.start(); lastErr == nil {
			break
		}
		if !strings.Contains(tail(e.logPath, 20), "address already in use") {
			break
		}
		_ = os.RemoveAll(e.dataDir())
	}
	if lastErr != nil {
		t.Fatalf("etcdtest: %v", lastErr)
	}
	if o.auth {
		e.password = randid.Hex(12)
		if err := e.enableAuth(); err != nil {
			t.Fatalf("etcdtest: enabling auth: %v", err)
		}
	}
	return e
}

func (e *Etcd) dataDir() string { return filepath.Join(e.dir, "data") }

func (e *Etcd) pickPorts() error {
	scheme := "http"
	if e.tlsFiles != nil {
		scheme = "https"
	}
	c, err := freePort()
	if err != nil {
		return err
	}
	p, err := freePort()
	if err != nil {
		return err
	}
	e.client = scheme + "://127.0.0.1:" + strconv.Itoa(c)
	e.peer = "http://127.0.0.1:" + strconv.Itoa(p)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (e *Etcd) args() []string {
	args := []string{
		"--name=default",
		"--data-dir=" + e.dataDir(),
		"--listen-client-urls=" + e.client,
		"--advertise-client-urls=" + e.client,
		"--listen-peer-urls=" + e.peer,
		"--initial-advertise-peer-urls=" + e.peer,
		"--initial-cluster=default=" + e.peer,
		"--initial-cluster-state=new",
		"--logger=zap",
		"--log-outputs=stderr",
	}
	if f := e.tlsFiles; f != nil {
		dir := filepath.Dir(f.CAFile)
		args = append(args,
			"--cert-file="+filepath.Join(dir, "server.pem"),
			"--key-file="+filepath.Join(dir, "server-key.pem"),
			"--trusted-ca-file="+f.CAFile,
			"--client-cert-auth")
	}
	return append(args, e.extra...)
}

// etcdEnv is this process's environment without ETCD_* variables, which etcd would read as
// flags.
func etcdEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return env
}

// start launches etcd and waits until it answers /health, or fails if it exits first.
func (e *Etcd) start() error {
	logf, err := os.OpenFile(e.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== etcdtest: %s %s\n", e.bin, strings.Join(e.args(), " "))
	cmd := exec.Command(e.bin, e.args()...)
	cmd.Env = etcdEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	e.mu.Lock()
	e.cmd, e.done = cmd, done
	e.mu.Unlock()
	return e.waitReady(done)
}

func (e *Etcd) waitReady(exited <-chan struct{}) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	if e.tlsFiles != nil {
		cfg, err := e.tlsConfig()
		if err != nil {
			return err
		}
		hc.Transport = &http.Transport{TLSClientConfig: cfg}
	}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(ReadyTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("etcd exited before it was ready; log:\n%s", tail(e.logPath, 20))
		default:
		}
		if last = health(hc, e.client+"/health"); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.Stop()
	return fmt.Errorf("etcd not ready after %s: %v", ReadyTimeout, last)
}

func health(hc *http.Client, url string) error {
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var h struct {
		Health string `json:"health"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return err
	}
	if h.Health != "true" {
		return fmt.Errorf("health %q (HTTP %d)", h.Health, resp.StatusCode)
	}
	return nil
}

func (e *Etcd) enableAuth() error {
	cfg := e.ClientConfig()
	cfg.Username, cfg.Password = "", ""
	c, err := clientv3.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.UserAdd(ctx, RootUser, e.password); err != nil {
		return err
	}
	if _, err := c.RoleAdd(ctx, "root"); err != nil && !strings.Contains(err.Error(), "already exists") {
		return err
	}
	if _, err := c.UserGrantRole(ctx, RootUser, "root"); err != nil {
		return err
	}
	_, err = c.AuthEnable(ctx)
	return err
}

// Endpoints are the client URLs, for clientv3.Config.Endpoints or --etcd-endpoints.
func (e *Etcd) Endpoints() []string { return []string{e.client} }

// TLS returns the client's certificate files, or nil when etcd was started without WithTLS.
func (e *Etcd) TLS() *TLSFiles { return e.tlsFiles }

// Credentials returns the root user and its password, or empty strings without WithAuth.
func (e *Etcd) Credentials() (user, password string) {
	if e.password == "" {
		return "", ""
	}
	return RootUser, e.password
}

// LogPath is etcd's log file.
func (e *Etcd) LogPath() string { return e.logPath }

// DataDir is etcd's data directory.
func (e *Etcd) DataDir() string { return e.dataDir() }

func (e *Etcd) tlsConfig() (*tls.Config, error) {
	if e.tlsFiles == nil {
		return nil, nil
	}
	return TLSConfig(*e.tlsFiles)
}

// ClientConfig is a configuration for a client of this etcd (endpoints, TLS, credentials), with
// a silent logger.
func (e *Etcd) ClientConfig() clientv3.Config {
	cfg := clientv3.Config{
		Endpoints:   e.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	}
	cfg.Username, cfg.Password = e.Credentials()
	if e.tlsFiles != nil {
		tc, err := e.tlsConfig()
		if err != nil {
			panic("etcdtest: certificates written by Start do not load: " + err.Error())
		}
		cfg.TLS = tc
	}
	return cfg
}

// Client returns a client of this etcd, closed when the test ends.
func (e *Etcd) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(e.ClientConfig())
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Stop kills etcd's process group (SIGKILL, like a crash) and waits for it to be reaped. It
// does nothing when etcd is not running.
func (e *Etcd) Stop() {
	e.mu.Lock()
	cmd, done := e.cmd, e.done
	e.cmd = nil
	e.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Restart brings etcd back on the same data directory and ports (killing it first if it is
// running) and waits until it answers.
func (e *Etcd) Restart(t testing.TB) {
	t.Helper()
	e.Stop()
	if err := e.start(); err != nil {
		t.Fatalf("etcdtest: restart: %v", err)
	}
}

// Pause stops etcd's processes (SIGSTOP): its ports stay open and requests hang, as behind a
// partition. Resume lets them go on. The stop is asynchronous, so Pause waits until every thread
// of etcd is stopped: a request sent after Pause returns cannot be answered.
func (e *Etcd) Pause() {
	e.signal(syscall.SIGSTOP)
	pid := e.Pid()
	deadline := time.Now().Add(10 * time.Second)
	for pid != 0 && !allStopped(pid) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// allStopped reports whether every thread of pid is stopped (state T in /proc), or pid is gone.
func allStopped(pid int) bool {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return true
	}
	for _, task := range tasks {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ...: comm may hold spaces and parentheses; look after the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' {
			return false
		}
	}
	return true
}

// Resume continues a paused etcd (SIGCONT).
func (e *Etcd) Resume() { e.signal(syscall.SIGCONT) }

func (e *Etcd) signal(sig syscall.Signal) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd != nil {
		_ = syscall.Kill(-e.cmd.Process.Pid, sig)
	}
}

// Pid is the etcd process's id (also its process group's), or 0 when it is not running.
func (e *Etcd) Pid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd == nil {
		return 0
	}
	return e.cmd.Process.Pid
}

// Prefix returns a key prefix of the test's own, for tests that share one etcd.
func Prefix(t testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return "/oo-test/" + name + "-" + randid.Hex(4) + "/"
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "(no log)"
		}
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
