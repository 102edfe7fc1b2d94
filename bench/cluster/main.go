// Command cluster measures oo replicas on one etcd, on 127.0.0.1 only, with the real binaries:
//
//	go build -o /tmp/oo ./cmd/oo && go run ./bench/cluster -oo /tmp/oo
//
// It starts a fresh etcd (-etcd, default `etcd` from PATH) on free loopback ports and
// -replicas `oo server start --store etcd` on it, then:
//
//   - propagation: -props times, registers an instance of a fresh slug through replica A and
//     polls replica B's proxy (GET /<slug>/p, every 200 µs) until the backend answers; reports
//     p50/p99/max from A's 201 to B's first 200 (and from the request's start);
//   - load: -clients concurrent clients, each with an account of its own, register -regs
//     distinct instance URLs spread round-robin over every replica; reports registrations/s
//     (201s only; any other answer is counted and printed).
//
// Load average (from /proc/loadavg) is printed before and after. Every process it starts is in
// a process group of its own, killed on exit, on failure and on Ctrl-C.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const adminPW = "bench-cluster-admin-password"

type config struct {
	oo, etcd      string
	replicas      int
	props         int
	clients, regs int
	serverArgs    string
	etcdDir       string
}

func main() {
	var c config
	flag.StringVar(&c.oo, "oo", "", "the oo binary to run as the replicas (required)")
	flag.StringVar(&c.etcd, "etcd", "etcd", "the etcd binary")
	flag.IntVar(&c.replicas, "replicas", 3, "oo server replicas on the one etcd")
	flag.IntVar(&c.props, "props", 200, "registrations whose propagation A→B is timed")
	flag.IntVar(&c.clients, "clients", 32, "concurrent clients of the load")
	flag.IntVar(&c.regs, "regs", 5000, "registrations of the load, spread over every replica")
	flag.StringVar(&c.serverArgs, "server-args", "", "extra arguments for oo server start, space-separated")
	flag.StringVar(&c.etcdDir, "etcd-dir", "", "parent directory of etcd's data (default the temporary dir); a tmpfs such as /dev/shm shows what the disk's fsync costs")
	flag.Parse()
	if c.oo == "" || c.replicas < 2 {
		fmt.Fprintln(os.Stderr, "cluster: -oo PATH is required, and -replicas at least 2")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// procs are the processes started, killed (group) on exit.
type procs struct {
	cmds  []*exec.Cmd
	names []string
}

// cpu is the user+system CPU time each process has used so far, by name ("etcd", "oo").
func (p *procs) cpu() map[string]time.Duration {
	out := map[string]time.Duration{}
	for i, cmd := range p.cmds {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command name; utime and stime are the 14th and 15th
		// fields of the line, in clock ticks (100 per second on Linux).
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[p.names[i]] += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return out
}

func (p *procs) start(log string, name string, args ...string) (*exec.Cmd, error) {
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()
	p.cmds = append(p.cmds, cmd)
	p.names = append(p.names, filepath.Base(name))
	return cmd, nil
}

func (p *procs) stop() {
	for _, cmd := range p.cmds {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

func run(ctx context.Context, c config) error {
	tmp, err := os.MkdirTemp("", "oo-bench-cluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var ps procs
	defer ps.stop()

	fmt.Printf("load average before: %s\n", loadavg())
	etcdParent := tmp
	if c.etcdDir != "" {
		if etcdParent, err = os.MkdirTemp(c.etcdDir, "oo-bench-etcd-"); err != nil {
			return err
		}
		defer os.RemoveAll(etcdParent)
	}
	endpoint, err := startEtcd(ctx, &ps, c.etcd, tmp, etcdParent)
	if err != nil {
		return err
	}
	urls := make([]string, c.replicas)
	for i := range urls {
		port, err := freePort()
		if err != nil {
			return err
		}
		urls[i] = "http://127.0.0.1:" + strconv.Itoa(port)
		args := []string{"server", "start", "--store", "etcd", "--etcd-endpoints", endpoint,
			"--addr", strings.TrimPrefix(urls[i], "http://"),
			"--log-level", "warn", "--max-instances", "0"}
		args = append(args, strings.Fields(c.serverArgs)...)
		if _, err := ps.start(filepath.Join(tmp, "oo"+strconv.Itoa(i)+".log"), c.oo, args...); err != nil {
			return err
		}
	}
	for i, u := range urls {
		if err := waitOK(ctx, u+"/user-svc/public-key", 60*time.Second); err != nil {
			b, _ := os.ReadFile(filepath.Join(tmp, "oo"+strconv.Itoa(i)+".log"))
			return fmt.Errorf("replica %d: %v\n%s", i, err, b)
		}
	}
	fmt.Printf("etcd %s, %d replicas: %s\n", endpoint, c.replicas, strings.Join(urls, " "))

	backend, err := startBackend()
	if err != nil {
		return err
	}
	if err := propagation(ctx, c, urls, backend); err != nil {
		return err
	}
	fsync0 := walFsync(endpoint)
	if err := load(ctx, c, urls, backend, &ps); err != nil {
		return err
	}
	fsync1 := walFsync(endpoint)
	if n := fsync1[1] - fsync0[1]; n > 0 {
		fmt.Printf("  etcd WAL fsyncs during the load: %.0f, mean %.2f ms\n", n, 1000*(fsync1[0]-fsync0[0])/n)
	}
	fmt.Printf("load average after: %s\n", loadavg())
	return nil
}

func startEtcd(ctx context.Context, ps *procs, bin, tmp, dataParent string) (string, error) {
	cp, err := freePort()
	if err != nil {
		return "", err
	}
	pp, err := freePort()
	if err != nil {
		return "", err
	}
	client, peer := "http://127.0.0.1:"+strconv.Itoa(cp), "http://127.0.0.1:"+strconv.Itoa(pp)
	_, err = ps.start(filepath.Join(tmp, "etcd.log"), bin, "--name=bench", "--data-dir="+filepath.Join(dataParent, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=bench="+peer, "--initial-cluster-state=new")
	if err != nil {
		return "", err
	}
	if err := waitOK(ctx, client+"/health", 60*time.Second); err != nil {
		b, _ := os.ReadFile(filepath.Join(tmp, "etcd.log"))
		return "", fmt.Errorf("etcd: %v\n%s", err, b)
	}
	return client, nil
}

// walFsync reads etcd's WAL fsync histogram from its /metrics: total seconds and count, so
// that a slow disk shows as such.
func walFsync(endpoint string) [2]float64 {
	var out [2]float64
	rsp, err := http.Get(endpoint + "/metrics")
	if err != nil {
		return out
	}
	defer rsp.Body.Close()
	raw, _ := io.ReadAll(rsp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "etcd_disk_wal_fsync_duration_seconds_sum":
			out[0] = v
		case "etcd_disk_wal_fsync_duration_seconds_count":
			out[1] = v
		}
	}
	return out
}

func waitOK(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		rsp, err := http.Get(url)
		if err == nil {
			rsp.Body.Close()
			if rsp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", rsp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v", url, within, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startBackend serves every path of every instance URL with 200 on one loopback port; the
// instances differ by path, which is part of an instance URL.
func startBackend() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"hello":"world"}`)
	}))
	return "http://" + l.Addr().String(), nil
}

var hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

func do(ctx context.Context, method, url, tok string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rsp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer rsp.Body.Close()
	raw, err := io.ReadAll(rsp.Body)
	return rsp.StatusCode, raw, err
}

// account registers slug through base and returns its token. A 503 (etcd slow to answer on a
// loaded machine) is retried a few times: the accounts are set-up, not what is measured.
func account(ctx context.Context, base, slug string) (string, error) {
	var code int
	var raw []byte
	var err error
	for try := 0; try < 5; try++ {
		code, raw, err = do(ctx, http.MethodPost, base+"/user-svc/register", "",
			map[string]string{"slug": slug, "name": slug, "password": slug + "-password"})
		if err != nil || code != http.StatusServiceUnavailable {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return "", err
	}
	var out struct{ Token struct{ Token string } }
	if code != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.Token.Token == "" {
		return "", fmt.Errorf("register %s: HTTP %d %s", slug, code, raw)
	}
	return out.Token.Token, nil
}

// accounts makes n accounts prefix-0..n-1, spread over the replicas, 8 at a time (password
// hashing is the slow part and is not what is measured).
func accounts(ctx context.Context, urls []string, prefix string, n int) ([]string, error) {
	toks := make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			toks[i], errs[i] = account(ctx, urls[i%len(urls)], fmt.Sprintf("%s-%d", prefix, i))
		}(i)
	}
	wg.Wait()
	return toks, errors.Join(errs...)
}

func register(ctx context.Context, base, tok, url string) error {
	code, raw, err := do(ctx, http.MethodPut, base+"/registry-svc/instance", tok, map[string]string{"url": url})
	if err != nil {
		return err
	}
	if code != http.StatusCreated {
		return fmt.Errorf("HTTP %d %s", code, raw)
	}
	return nil
}

func propagation(ctx context.Context, c config, urls []string, backend string) error {
	toks, err := accounts(ctx, urls, "prop", c.props)
	if err != nil {
		return err
	}
	a, b := urls[0], urls[1]
	fromAck := make([]time.Duration, 0, c.props)
	fromSend := make([]time.Duration, 0, c.props)
	for i := 0; i < c.props; i++ {
		slug := fmt.Sprintf("prop-%d", i)
		routable := make(chan time.Time, 1)
		pollCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		go func() {
			for pollCtx.Err() == nil {
				code, _, err := do(pollCtx, http.MethodGet, b+"/"+slug+"/p", "", nil)
				if err == nil && code == http.StatusOK {
					routable <- time.Now()
					return
				}
				time.Sleep(200 * time.Microsecond)
			}
		}()
		sent := time.Now()
		err := register(ctx, a, toks[i], fmt.Sprintf("%s/prop/%d", backend, i))
		acked := time.Now()
		if err != nil {
			cancel()
			return fmt.Errorf("propagation registration %d: %v", i, err)
		}
		select {
		case at := <-routable:
			fromAck = append(fromAck, max(0, at.Sub(acked)))
			fromSend = append(fromSend, at.Sub(sent))
		case <-pollCtx.Done():
			cancel()
			return fmt.Errorf("registration %d on A never routable on B within 30 s", i)
		}
		cancel()
	}
	fmt.Printf("propagation A→B over %d registrations: from A's 201 p50 %v p99 %v max %v; from the request's start p50 %v p99 %v max %v\n",
		c.props, pct(fromAck, 50), pct(fromAck, 99), pct(fromAck, 100), pct(fromSend, 50), pct(fromSend, 99), pct(fromSend, 100))
	return nil
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	i = min(max(i-1, 0), len(s)-1)
	return s[i].Round(10 * time.Microsecond)
}

func load(ctx context.Context, c config, urls []string, backend string, ps *procs) error {
	toks, err := accounts(ctx, urls, "load", c.clients)
	if err != nil {
		return err
	}
	var next, ok, bad atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	cpu0 := ps.cpu()
	start := time.Now()
	for w := 0; w < c.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				n := next.Add(1) - 1
				if n >= int64(c.regs) || ctx.Err() != nil {
					return
				}
				err := register(ctx, urls[n%int64(len(urls))], toks[w], fmt.Sprintf("%s/load/%d", backend, n))
				if err != nil {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		}(w)
	}
	wg.Wait()
	took := time.Since(start)
	cpu1 := ps.cpu()
	fmt.Printf("load: %d registrations (%d × 201, %d failed) from %d clients over %d replicas in %v: %.0f registrations/s\n",
		c.regs, ok.Load(), bad.Load(), c.clients, len(urls), took.Round(time.Millisecond), float64(ok.Load())/took.Seconds())
	for name, t := range cpu1 {
		used := t - cpu0[name]
		fmt.Printf("  CPU of %s during the load: %v (%.0f%% of one core, %.0f µs per registration)\n",
			name, used.Round(10*time.Millisecond), 100*used.Seconds()/took.Seconds(), float64(used.Microseconds())/float64(max(ok.Load(), 1)))
	}
	if e := firstErr.Load(); e != nil {
		fmt.Printf("first failure: %v\n", e)
	}
	return nil
}
