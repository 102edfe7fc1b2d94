// Command registry loads a real `oo server start` with registrations over HTTP and measures the
// write path and the listing at scale (issue 12), on 127.0.0.1 only.
//
//	go build -o /tmp/oo ./cmd/oo && go run ./bench/registry -oo /tmp/oo
//
// It starts the server on a free loopback port with a fresh temporary data dir, no instance
// quota and no probing (--max-instances 0 --probe-interval 0: nothing is dialed), then
// registers -n instances from -clients concurrent clients through PUT /registry-svc/instance,
// every answer a committed (fsynced) registration. -slugs one registers them all as one
// account; -slugs many has the admin register each for its own slug. It reports:
//
//   - the rate of the first and the last 1000 registrations and overall;
//   - the server's resident memory (VmRSS and its peak VmHWM from /proc/PID/status) once the
//     instances are registered, and again after listing them;
//   - how long `oo instance ls -o json` takes to list them all (the real CLI, paging), twice.
//
// Every phase is bounded by -timeout. The server is stopped (its process group) on exit, also
// on failure or Ctrl-C.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ooctl/oo/bench/internal/benchserver"
)

const adminPassword = "registry-bench-admin"

func main() {
	bin := flag.String("oo", "", "the oo binary to run as the server and the CLI (required)")
	n := flag.Int("n", 10000, "instances to register")
	clients := flag.Int("clients", 32, "concurrent registering clients")
	slugs := flag.String("slugs", "one", "one: every instance under one slug; many: one slug per instance")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound on the whole run")
	profiles := flag.String("profiles", "", "a directory: save the server's heap profile there after registering and after listing (the binary must serve net/http/pprof at $OO_BENCH_PPROF, as bench/registry.sh PROFILE=1 builds it)")
	flag.Parse()
	if *bin == "" || *n < 2000 || *clients < 1 || (*slugs != "one" && *slugs != "many") {
		fmt.Fprintln(os.Stderr, "registry: -oo PATH is required; -n at least 2000; -slugs one or many")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	err := run(ctx, *bin, *n, *clients, *slugs == "many", *profiles)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin string, n, clients int, many bool, profiles string) error {
	tmp, err := os.MkdirTemp("", "oo-registry-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	addr, err := benchserver.FreeAddr()
	if err != nil {
		return err
	}
	base := "http://" + addr
	env := append(os.Environ(), "OO_ADMIN_PASSWORD="+adminPassword, "XDG_CONFIG_HOME="+tmp, "XDG_DATA_HOME="+tmp, "XDG_STATE_HOME="+tmp)
	pprofAddr := ""
	if profiles != "" {
		if pprofAddr, err = benchserver.FreeAddr(); err != nil {
			return err
		}
	}
	srv := exec.CommandContext(ctx, bin, "server", "start", "--addr", addr, "--data-dir", tmp,
		"--log-level", "warn", "--max-instances", "0", "--probe-interval", "0")
	srv.Env = append(env, "OO_BENCH_PPROF="+pprofAddr)
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	srv.Cancel = func() error { return syscall.Kill(-srv.Process.Pid, syscall.SIGKILL) }
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		_ = syscall.Kill(-srv.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-srv.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	if err := benchserver.WaitServing(ctx, base); err != nil {
		return err
	}
	var admin struct {
		Token struct{ Token string } `json:"token"`
	}
	if err := benchserver.Call(ctx, hc, http.MethodPost, base+"/user-svc/login", "", map[string]string{"slug": "admin", "password": adminPassword}, &admin); err != nil {
		return err
	}
	token := admin.Token.Token
	if !many {
		var acct struct {
			Token struct{ Token string } `json:"token"`
		}
		if err := benchserver.Call(ctx, hc, http.MethodPost, base+"/user-svc/register", "",
			map[string]string{"slug": "load-svc", "name": "load", "password": "registry-bench-password"}, &acct); err != nil {
			return err
		}
		token = acct.Token.Token
	}
	mode := map[bool]string{false: "one slug", true: fmt.Sprintf("%d slugs", n)}[many]
	fmt.Printf("oo server %s (pid %d): registering %d instances, %s, %d clients\n", addr, srv.Process.Pid, n, mode, clients)
	fmt.Printf("before:            VmRSS %s\n", memory(srv.Process.Pid))

	done := make([]time.Time, n)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				req := map[string]string{"url": fmt.Sprintf("http://127.%d.%d.%d:%d", 1+i/62500, i/250%250, i%250+1, 10000+i%7)}
				if many {
					req["slug"] = fmt.Sprintf("svc-%d", i)
				}
				if err := benchserver.Call(ctx, hc, http.MethodPut, base+"/registry-svc/instance", token, req, nil); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				done[i] = time.Now()
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	first, last := rate(start, done[:1000]), rate(done[n-1001], done[n-1000:])
	fmt.Printf("registrations:     first 1000 %.0f/s, last 1000 %.0f/s (%.2f× the first), all %d %.0f/s in %v\n",
		first, last, last/first, n, float64(n)/total.Seconds(), total.Round(time.Millisecond))
	fmt.Printf("registered:        VmRSS %s\n", memory(srv.Process.Pid))
	if err := heapProfile(ctx, hc, pprofAddr, profiles, slugsName(many)+"-registered"); err != nil {
		return err
	}

	adminTok := admin.Token.Token
	for round := 1; round <= 2; round++ {
		took, cpu, count, size, err := ls(ctx, bin, env, base, adminTok)
		if err != nil {
			return err
		}
		if count != n {
			return fmt.Errorf("oo instance ls -o json listed %d instances, want %d", count, n)
		}
		fmt.Printf("oo instance ls -o json (%d): %d instances, %d bytes, %v (CPU %v)\n", round, count, size, took.Round(time.Millisecond), cpu.Round(time.Millisecond))
	}
	fmt.Printf("after listing:     VmRSS %s\n", memory(srv.Process.Pid))
	return heapProfile(ctx, hc, pprofAddr, profiles, slugsName(many)+"-listed")
}

func slugsName(many bool) string { return map[bool]string{false: "one", true: "many"}[many] }

// heapProfile saves the server's heap profile as dir/heap-NAME.pprof, when profiling, and
// prints the Go runtime's view of its memory.
func heapProfile(ctx context.Context, hc *http.Client, addr, dir, name string) error {
	if addr == "" {
		return nil
	}
	get := func(query string) ([]byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/heap"+query, nil)
		rsp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("heap profile: %w (was the binary built with the pprof overlay?)", err)
		}
		defer rsp.Body.Close()
		raw, err := io.ReadAll(rsp.Body)
		if err != nil || rsp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("heap profile: HTTP %d %v", rsp.StatusCode, err)
		}
		return raw, nil
	}
	raw, err := get("")
	if err != nil {
		return err
	}
	file := filepath.Join(dir, "heap-"+name+".pprof")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		return err
	}
	text, err := get("?debug=1")
	if err != nil {
		return err
	}
	var stats []string
	for _, l := range strings.Split(string(text), "\n") {
		for _, k := range []string{"# HeapAlloc", "# HeapInuse", "# HeapIdle", "# HeapReleased", "# StackInuse", "# Sys ", "# NextGC"} {
			if strings.HasPrefix(l, k) {
				stats = append(stats, strings.TrimPrefix(l, "# "))
			}
		}
	}
	fmt.Printf("                   heap profile %s: %s\n", file, strings.Join(stats, ", "))
	return nil
}

// ls runs the real CLI, as a user would, and checks what it printed.
func ls(ctx context.Context, bin string, env []string, base, token string) (took, cpu time.Duration, count, size int, err error) {
	cmd := exec.CommandContext(ctx, bin, "instance", "ls", "-o", "json")
	cmd.Env = append(env, "OO_URL="+base, "OO_TOKEN="+token)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err = cmd.Run()
	took = time.Since(start)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("oo instance ls: %v: %s", err, errOut.String())
	}
	cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	var list struct{ Instances []json.RawMessage }
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("oo instance ls -o json: %v", err)
	}
	return took, cpu, len(list.Instances), out.Len(), nil
}

// memory is VmRSS of pid, its peak VmHWM and its parts (anonymous: the Go heap and stacks;
// file: the binary and bbolt's memory-mapped file), as /proc/PID/status gives them.
func memory(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	v := map[string]string{}
	for _, l := range strings.Split(string(raw), "\n") {
		if k, val, ok := strings.Cut(l, ":"); ok {
			v[k] = strings.TrimSpace(val)
		}
	}
	return fmt.Sprintf("%s (peak %s; anon %s, file %s)", v["VmRSS"], v["VmHWM"], v["RssAnon"], v["RssFile"])
}

// rate is how many of done per second, counted from since to the latest of done.
func rate(since time.Time, done []time.Time) float64 {
	end := since
	for _, t := range done {
		if t.After(end) {
			end = t
		}
	}
	return float64(len(done)) / end.Sub(since).Seconds()
}
