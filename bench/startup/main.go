// Command startup measures how soon a service that registers before it listens (as the "first
// service" program does) is routable through a real `oo server start`, on 127.0.0.1 only.
//
//	go build -o /tmp/oo ./cmd/oo && go run ./bench/startup -oo /tmp/oo
//
// It starts the server on a fresh temporary data dir, creates an account, and then, -runs
// times: registers a URL nothing listens on, waits -wait, listens there, and at once sends
// GET /<slug>/hello through the server. It reports, per run and as p50/p100:
//
//   - first: how long after listening the first request through the server was answered
//     (a request answered with anything but 200 counts as a failed run, and the tool retries
//     every millisecond to measure when it would have worked);
//   - healthy: how long after listening a probe saw the instance (the instance's lastSeen,
//     the server's own time of the first passing probe, minus the listen time).
//
// The server is stopped (process group) on exit, also on failure or Ctrl-C.
package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/ooctl/oo/bench/internal/benchserver"
)

func main() {
	bin := flag.String("oo", "", "the oo binary to run as the server (required)")
	runs := flag.Int("runs", 20, "how many services to start")
	wait := flag.Duration("wait", 700*time.Millisecond, "how long each service waits between registering and listening")
	args := flag.String("server-args", "", "extra arguments for oo server start, space-separated (say --probe-interval=1s)")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "startup: -oo PATH is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *bin, *runs, *wait, *args)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin string, runs int, wait time.Duration, extra string) error {
	tmp, err := os.MkdirTemp("", "oo-startup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	addr, err := benchserver.FreeAddr()
	if err != nil {
		return err
	}
	base := "http://" + addr
	args := []string{"server", "start", "--addr", addr, "--data-dir", tmp, "--log-level", "warn"}
	if extra != "" {
		args = append(args, splitArgs(extra)...)
	}
	srv := exec.Command(bin, args...)
	srv.Env = append(os.Environ(), "OO_ADMIN_PASSWORD=startup-bench-admin", "XDG_CONFIG_HOME="+tmp, "XDG_DATA_HOME="+tmp)
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		_ = syscall.Kill(-srv.Process.Pid, syscall.SIGTERM)
		_ = srv.Wait()
	}()
	if err := benchserver.WaitServing(ctx, base); err != nil {
		return err
	}
	token, err := account(base)
	if err != nil {
		return err
	}
	fmt.Printf("oo server %s %v; %d services, each listening %v after registering\n", addr, args[6:], runs, wait)
	fmt.Printf("%4s  %12s  %12s\n", "run", "first", "healthy")
	var firsts, healthies []time.Duration
	failed := 0
	for i := range runs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		first, ok, healthy, err := once(ctx, base, token, wait)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		note := ""
		if !ok {
			failed++
			note = "  (first request failed; time until one succeeded)"
		}
		fmt.Printf("%4d  %12v  %12v%s\n", i+1, first.Round(time.Microsecond), healthy.Round(time.Microsecond), note)
		firsts, healthies = append(firsts, first), append(healthies, healthy)
	}
	fmt.Printf("first request after listen:   p50 %v  p100 %v  (%d of %d failed)\n",
		pct(firsts, 50), pct(firsts, 100), failed, runs)
	fmt.Printf("probe sees it Healthy after:  p50 %v  p100 %v\n", pct(healthies, 50), pct(healthies, 100))
	return nil
}

// once starts one service: register, wait, listen, request at once.
func once(ctx context.Context, base, token string, wait time.Duration) (first time.Duration, ok bool, healthy time.Duration, err error) {
	addr, err := benchserver.FreeAddr()
	if err != nil {
		return 0, false, 0, err
	}
	var reg struct {
		Instance struct{ ID string } `json:"instance"`
	}
	if err := benchserver.Call(context.Background(), http.DefaultClient, http.MethodPut, base+"/registry-svc/instance", token, map[string]string{"url": "http://" + addr}, &reg); err != nil {
		return 0, false, 0, err
	}
	defer benchserver.Call(context.Background(), http.DefaultClient, http.MethodDelete, base+"/registry-svc/instance/"+reg.Instance.ID, token, nil, nil)
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return 0, false, 0, ctx.Err()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, false, 0, err
	}
	listening := time.Now()
	svc := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"hello":"world"}`)
	})}
	go svc.Serve(ln)
	defer svc.Close()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	ok = true
	for {
		rsp, err := client.Get(base + "/startup-bench/hello")
		if err == nil {
			io.Copy(io.Discard, rsp.Body)
			rsp.Body.Close()
			if rsp.StatusCode == http.StatusOK {
				break
			}
		}
		ok = false
		if time.Since(listening) > 30*time.Second {
			return 0, false, 0, errors.New("not routable 30s after listening")
		}
		time.Sleep(time.Millisecond)
	}
	first = time.Since(listening)

	deadline := time.Now().Add(30 * time.Second)
	for {
		var got struct {
			Instance struct {
				Status   string
				LastSeen *time.Time `json:"lastSeen"`
				// Before lastSeen existed, lastHeartbeat was the last passing probe: it
				// measures binaries of then (this service sends no heartbeats).
				LastHeartbeat *time.Time `json:"lastHeartbeat"`
			} `json:"instance"`
		}
		if err := benchserver.Call(context.Background(), http.DefaultClient, http.MethodGet, base+"/registry-svc/instance/"+reg.Instance.ID, token, nil, &got); err != nil {
			return 0, false, 0, err
		}
		seen := cmp.Or(got.Instance.LastSeen, got.Instance.LastHeartbeat)
		if got.Instance.Status == "Healthy" && seen != nil {
			return first, ok, seen.Sub(listening), nil
		}
		if time.Now().After(deadline) {
			return 0, false, 0, fmt.Errorf("not Healthy 30s after listening (status %s)", got.Instance.Status)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func account(base string) (string, error) {
	var out struct {
		Token struct{ Token string } `json:"token"`
	}
	err := benchserver.Call(context.Background(), http.DefaultClient, http.MethodPost, base+"/user-svc/register", "",
		map[string]string{"slug": "startup-bench", "name": "startup bench", "password": "startup-bench-password"}, &out)
	return out.Token.Token, err
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)].Round(time.Microsecond)
}

func splitArgs(s string) []string {
	var out []string
	for _, f := range bytes.Fields([]byte(s)) {
		out = append(out, string(f))
	}
	return out
}
