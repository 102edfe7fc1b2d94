package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/etcdtest"
	"github.com/ooctl/oo/internal/proctest"
)

// The cluster harness: one real etcd (internal/etcdtest: free loopback ports, killed with the
// test) and N real `oo server start --store etcd` replicas on it, each in its own process group,
// stopped with its children when the test ends, its log printed when the test fails. Each test
// has its own etcd, so tests run in parallel without sharing state.

// cluster is one etcd and the replicas on it.
type cluster struct {
	t        *testing.T
	env      *env
	etcd     *etcdtest.Etcd
	args     []string // flags every replica gets, after the store flags
	replicas []*serverProc
}

// clusterProbeInterval is short so that the probing tests run in seconds; the tests that
// count probes pick their own.
const clusterProbeInterval = "500ms"

// startCluster starts etcd and n replicas launched at once (they race to create the admin
// account and the signing key, as replicas of a real deployment do), and waits until every one
// answers. extra flags go to every replica (they may override --probe-interval).
func startCluster(t *testing.T, n int, extra ...string) *cluster {
	t.Helper()
	et := etcdtest.Start(t)
	c := &cluster{t: t, env: newEnv(t), etcd: et, args: append([]string{"--probe-interval", clusterProbeInterval}, extra...)}
	procs := make([]*serverProc, n)
	for i := range procs {
		procs[i] = c.launch()
	}
	for _, p := range procs {
		c.awaitReady(p)
	}
	return c
}

// AddReplica starts one more replica and waits until it answers.
func (c *cluster) AddReplica() *serverProc {
	c.t.Helper()
	p := c.launch()
	c.awaitReady(p)
	return p
}

// launch starts a replica on a loopback port of the kernel's choosing (with etcd, --data-dir
// is unused: replicas share nothing but etcd).
func (c *cluster) launch() *serverProc {
	t := c.t
	t.Helper()
	args := append([]string{"server", "start", "--addr", "127.0.0.1:0",
		"--store", "etcd", "--etcd-endpoints", strings.Join(c.etcd.Endpoints(), ","),
		"--log-level", "debug"}, c.args...)
	cmd := exec.Command(ooBin, args...)
	cmd.Env = c.env.Vars
	log := &proctest.Output{}
	cmd.Stdout, cmd.Stderr = log, log
	inOwnGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProc{Cmd: cmd, Log: log}
	idx := len(c.replicas)
	c.replicas = append(c.replicas, p)
	t.Cleanup(func() {
		p.Stop()
		checkGroup(t, cmd)
		if t.Failed() {
			t.Logf("replica %d (%s) log:\n%s", idx, p.Addr, clusterTail(log.String(), 60))
		}
	})
	return p
}

// awaitReady waits until p logs its address and serves the public key.
func (c *cluster) awaitReady(p *serverProc) {
	t := c.t
	t.Helper()
	ready := func() bool {
		if p.Addr == "" {
			m := listeningRE.FindStringSubmatch(p.Log.String())
			if m == nil {
				return false
			}
			p.Addr, p.URL = m[1]+m[2], "http://"+m[1]+m[2]
		}
		code, _, err := clusterDo(http.MethodGet, p.URL+"/user-svc/public-key", "", nil)
		return err == nil && code == http.StatusOK
	}
	const within = 60 * time.Second
	for deadline := time.Now().Add(within); !ready(); time.Sleep(20 * time.Millisecond) {
		if runtime.GOOS == "linux" && proctest.Zombie(p.Cmd.Process.Pid) {
			t.Fatalf("replica exited before answering; log:\n%s", p.Log.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica did not answer within %s; log:\n%s", within, p.Log.String())
		}
	}
}

// Kill9 kills replica i and its process group with SIGKILL, as a crash would, and reaps it.
func (c *cluster) Kill9(i int) {
	p := c.replicas[i]
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	p.Stop() // reaps; the signal it sends goes nowhere
}

// Alive are the replicas not stopped or killed.
func (c *cluster) Alive() []*serverProc {
	var out []*serverProc
	for _, p := range c.replicas {
		if p.Cmd.ProcessState == nil {
			out = append(out, p)
		}
	}
	return out
}

// AdminToken logs the admin in on replica i.
func (c *cluster) AdminToken(i int) string {
	c.t.Helper()
	return cliLoginToken(c.t, c.replicas[i].URL, "admin", adminPassword)
}

// Register creates an account slug through replica i and returns its token.
func (c *cluster) Register(i int, slug string) string {
	c.t.Helper()
	code, tok := serverRegister(c.t, c.replicas[i].URL, slug)
	if code != http.StatusOK || tok == "" {
		c.t.Fatalf("register %s on replica %d: HTTP %d", slug, i, code)
	}
	return tok
}

// AddInstance registers url (probed at healthPath when not empty) for the token's slug through
// replica i and returns the instance's id.
func (c *cluster) AddInstance(i int, tok, url, healthPath string) string {
	c.t.Helper()
	body := map[string]string{"url": url}
	if healthPath != "" {
		body["healthPath"] = healthPath
	}
	code, raw, err := clusterDo(http.MethodPut, c.replicas[i].URL+"/registry-svc/instance", tok, body)
	if err != nil || code != http.StatusCreated {
		c.t.Fatalf("register instance %s on replica %d: HTTP %d %v %s", url, i, code, err, raw)
	}
	var out struct{ Instance clusterInstance }
	if err := json.Unmarshal(raw, &out); err != nil || out.Instance.ID == "" {
		c.t.Fatalf("register instance: answer %s: %v", raw, err)
	}
	return out.Instance.ID
}

// clusterInstance is the part of an instance the cluster tests look at.
type clusterInstance struct {
	ID            string `json:"id"`
	URL           string `json:"url"`
	Status        string `json:"status"`
	Slug          string `json:"slug"`
	LastHeartbeat string `json:"lastHeartbeat"`
}

// Instance reads instance id as replica p sees it ("" status when it does not know it).
func (c *cluster) Instance(p *serverProc, tok, id string) clusterInstance {
	c.t.Helper()
	code, raw, err := clusterDo(http.MethodGet, p.URL+"/registry-svc/instance/"+id, tok, nil)
	if err != nil {
		c.t.Fatalf("GET instance %s on %s: %v", id, p.Addr, err)
	}
	var out struct{ Instance clusterInstance }
	if code == http.StatusOK {
		_ = json.Unmarshal(raw, &out)
	}
	return out.Instance
}

// Eventually polls cond every 20 ms until it holds or d passes, then fails with what.
func (c *cluster) Eventually(d time.Duration, what string, cond func() bool) time.Duration {
	c.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			c.t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// clusterHTTP bounds every request of the cluster tests: a replica that hangs fails the test
// instead of stalling it.
var clusterHTTP = &http.Client{Timeout: 10 * time.Second}

// clusterDo sends a JSON request (body nil: none) with a bearer token (may be empty) and
// returns the status and the body.
func clusterDo(method, url, tok string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rsp, err := clusterHTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer rsp.Body.Close()
	raw, err := io.ReadAll(rsp.Body)
	return rsp.StatusCode, raw, err
}

// backend is an instance a test registers: a loopback HTTP server that counts the health
// probes it gets and answers every other path with its name.
type backend struct {
	*httptest.Server
	name   string
	probes atomic.Int64
}

const backendHealthPath = "/healthz"

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == backendHealthPath {
			b.probes.Add(1)
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"backend":%q,"path":%q}`, name, r.URL.Path)
	}))
	t.Cleanup(b.Close)
	return b
}

// proxied GETs /slug/x through p and reports whether the backend named want answered.
func proxied(p *serverProc, slug, want string) (bool, error) {
	code, raw, err := clusterDo(http.MethodGet, p.URL+"/"+slug+"/x", "", nil)
	if err != nil {
		return false, err
	}
	if code != http.StatusOK {
		return false, fmt.Errorf("HTTP %d: %s", code, raw)
	}
	var out struct{ Backend string }
	if err := json.Unmarshal(raw, &out); err != nil {
		return false, err
	}
	return out.Backend == want, nil
}

// Replicas is what `oo server ls -o json`, run against replica i, says.
func (c *cluster) Replicas(i int) []clusterReplica {
	c.t.Helper()
	r := c.env.With("OO_URL="+c.replicas[i].URL, "OO_TOKEN="+c.AdminToken(i)).Run("", "server", "ls", "-o", "json")
	if r.Code != 0 {
		c.t.Fatalf("oo server ls: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	var out struct{ Replicas []clusterReplica }
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		c.t.Fatalf("oo server ls -o json: %v\n%s", err, r.Stdout)
	}
	return out.Replicas
}

// clusterReplica is one replica as `oo server ls -o json` lists it.
type clusterReplica struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Version string `json:"version"`
	Prober  bool   `json:"prober"`
}

// Prober is the index of the replica `oo server ls` (asked of replica ask) names as the prober,
// waiting (bounded) until exactly one live replica is.
func (c *cluster) Prober(ask int) int {
	c.t.Helper()
	idx := -1
	c.Eventually(30*time.Second, "one prober among the replicas", func() bool {
		idx = -1
		n := 0
		for _, r := range c.Replicas(ask) {
			if !r.Prober {
				continue
			}
			n++
			for i, p := range c.replicas {
				if p.Cmd.ProcessState == nil && strings.HasSuffix(r.Address, p.Addr) {
					idx = i
				}
			}
		}
		return n == 1 && idx >= 0
	})
	return idx
}

func clusterTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
