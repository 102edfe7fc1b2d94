// Command abuse measures what one cheap client can do to a real `oo server start` (issue 11):
// stalled request bodies (server file descriptors over time), a wrong-password login loop
// (attempts accepted per second), and a login flood (the proxied p50 with and without 16
// concurrent login clients). It starts the given oo binary on 127.0.0.1 with a fresh data dir,
// a backend in this process, and stops both when done; every phase is bounded in time.
//
//	go build -o oo-new ./cmd/oo && go run ./bench/abuse -oo ./oo-new
//	go run ./bench/abuse -oo ./oo-old -label before   # a binary built from an older commit
//
// Flags given after -- go to `oo server start` as they are. A binary that knows
// --proxy-body-idle-timeout is started with -stall-idle for it, so that the stall phase shows
// the connections being released within the phase.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	oo         string
	label      string
	stallConns int
	stallHold  time.Duration
	stallIdle  time.Duration
	loginFor   time.Duration
	floodFor   time.Duration
	flooders   int
	extra      []string
}

func main() {
	var c config
	flag.StringVar(&c.oo, "oo", "", "the oo binary to measure (required)")
	flag.StringVar(&c.label, "label", "oo", "name of this run in the output")
	flag.IntVar(&c.stallConns, "stall-conns", 200, "connections that send 1 byte of a 100000-byte body and stop")
	flag.DurationVar(&c.stallHold, "stall-hold", 20*time.Second, "how long the stalled connections are watched")
	flag.DurationVar(&c.stallIdle, "stall-idle", 10*time.Second, "--proxy-body-idle-timeout for binaries that have it")
	flag.DurationVar(&c.loginFor, "login-for", 5*time.Second, "length of the one-client wrong-password loop")
	flag.DurationVar(&c.floodFor, "flood-for", 8*time.Second, "length of each proxied-latency measurement")
	flag.IntVar(&c.flooders, "flooders", 16, "concurrent login clients in the flood")
	flag.Parse()
	c.extra = flag.Args()
	if c.oo == "" {
		log.Fatal("-oo is required")
	}
	if err := run(c); err != nil {
		log.Fatal(err)
	}
}

const (
	slug     = "bench-svc"
	password = "bench-password-1"
	adminPW  = "bench-admin-password"
)

func run(c config) error {
	backend, err := startBackend()
	if err != nil {
		return err
	}
	defer backend.Close()

	help, _ := exec.Command(c.oo, "server", "start", "--help").CombinedOutput()
	args := []string{"server", "start", "--probe-interval", "0", "--log-level", "warn"}
	if bytes.Contains(help, []byte("--proxy-body-idle-timeout")) {
		args = append(args, "--proxy-body-idle-timeout", c.stallIdle.String())
	}
	args = append(args, c.extra...)
	srv, err := startOO(c.oo, args)
	if err != nil {
		return err
	}
	defer srv.stop()

	tok, err := login(srv.url, "register", slug, password)
	if err != nil {
		return fmt.Errorf("register %s: %w", slug, err)
	}
	if err := registerInstance(srv.url, tok, "http://"+backend.Addr().String()); err != nil {
		return err
	}

	fmt.Printf("== %s (%s %s)\n", c.label, c.oo, strings.Join(args[2:], " "))
	before := srv.fds()
	peak, after, answered := stall(srv, c)
	fmt.Printf("stall: %d connections, fds before %d, after opening %d, after %v %d; %d answered\n",
		c.stallConns, before, peak, c.stallHold, after, answered)

	accepted, throttled := wrongLogins(srv.url, c.loginFor)
	fmt.Printf("wrong-password logins from one client: %.1f/s answered 401, %.1f/s answered 429 (%v)\n",
		float64(accepted)/c.loginFor.Seconds(), float64(throttled)/c.loginFor.Seconds(), c.loginFor)

	quiet := latency(srv.url, c.floodFor, 0, "")
	fmt.Printf("proxied GET, no login load:            %s\n", quiet)
	wrong := latency(srv.url, c.floodFor, c.flooders, "wrong-password")
	fmt.Printf("proxied GET, %d clients, wrong password: %s\n", c.flooders, wrong)
	right := latency(srv.url, c.floodFor, c.flooders, password)
	fmt.Printf("proxied GET, %d clients, right password: %s\n", c.flooders, right)
	return nil
}

// --- the server under test ---

type ooServer struct {
	cmd *exec.Cmd
	url string
	dir string
}

func startOO(bin string, args []string) (*ooServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	dir, err := os.MkdirTemp("", "oo-abuse-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append(args, "--addr", addr, "--data-dir", filepath.Join(dir, "data"))...)
	cmd.Env = append(os.Environ(), "OO_ADMIN_PASSWORD="+adminPW)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &ooServer{cmd: cmd, url: "http://" + addr, dir: dir}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if rsp, err := http.Get(s.url + "/proxy-svc/healthz"); err == nil {
			rsp.Body.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("the server did not come up within 15 s")
		}
	}
}

func (s *ooServer) stop() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	os.RemoveAll(s.dir)
}

func (s *ooServer) fds() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// startBackend serves {"hello":"world"}, reading any request body to the end first (so a
// stalled client body holds a backend request, as it would with a real upload handler).
func startBackend() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"hello":"world"}`)
	}))
	return ln, nil
}

// --- API helpers ---

func postJSON(url, token string, body any) (*http.Response, []byte, error) {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer rsp.Body.Close()
	b, err := io.ReadAll(rsp.Body)
	return rsp, b, err
}

func login(base, what, s, pw string) (string, error) {
	rsp, b, err := postJSON(base+"/user-svc/"+what, "", map[string]string{"slug": s, "name": s, "password": pw})
	if err != nil {
		return "", err
	}
	if rsp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d %s", rsp.StatusCode, b)
	}
	var out struct{ Token struct{ Token string } }
	err = json.Unmarshal(b, &out)
	return out.Token.Token, err
}

func registerInstance(base, tok, url string) error {
	raw, _ := json.Marshal(map[string]string{"url": url})
	req, _ := http.NewRequest(http.MethodPut, base+"/registry-svc/instance", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusCreated {
		return fmt.Errorf("register instance: HTTP %d %s", rsp.StatusCode, b)
	}
	return nil
}

// --- phases ---

// stall opens c.stallConns connections that announce a 100000-byte body, send one byte and
// stop. It returns the server's fds once they are open and after c.stallHold, and how many got
// an answer within the hold.
func stall(s *ooServer, c config) (peak, after, answered int) {
	addr := strings.TrimPrefix(s.url, "http://")
	conns := make([]net.Conn, 0, c.stallConns)
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	var got atomic.Int32
	for range c.stallConns {
		cn, err := net.Dial("tcp", addr)
		if err != nil {
			log.Printf("stall: %v", err)
			break
		}
		fmt.Fprintf(cn, "POST /%s/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\na", slug)
		conns = append(conns, cn)
		go func() {
			if n, _ := cn.Read(make([]byte, 1)); n > 0 {
				got.Add(1)
			}
		}()
	}
	time.Sleep(time.Second) // let the server accept and forward them all
	peak = s.fds()
	time.Sleep(c.stallHold - time.Second)
	after = s.fds()
	return peak, after, int(got.Load())
}

// wrongLogins sends wrong-password logins one after another from one client for d.
func wrongLogins(base string, d time.Duration) (accepted, throttled int) {
	for end := time.Now().Add(d); time.Now().Before(end); {
		rsp, _, err := postJSON(base+"/user-svc/login", "", map[string]string{"slug": slug, "password": "wrong-password"})
		if err != nil {
			continue
		}
		switch rsp.StatusCode {
		case http.StatusUnauthorized:
			accepted++
		case http.StatusTooManyRequests:
			throttled++
		}
	}
	return accepted, throttled
}

type latencies struct {
	n             int
	p50, p99      time.Duration
	logins, other int64
}

func (l latencies) String() string {
	return fmt.Sprintf("p50 %6.2f ms  p99 %7.2f ms  (%d GETs; flood: %d logins answered, %d other answers)",
		float64(l.p50.Microseconds())/1000, float64(l.p99.Microseconds())/1000, l.n, l.logins, l.other)
}

// latency measures sequential proxied GETs for d while flooders clients log in in a loop with
// pw (none when flooders is 0).
func latency(base string, d time.Duration, flooders int, pw string) latencies {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	var out latencies
	var logins, other atomic.Int64
	for range flooders {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			raw, _ := json.Marshal(map[string]string{"slug": slug, "password": pw})
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/user-svc/login", bytes.NewReader(raw))
				rsp, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, rsp.Body)
				rsp.Body.Close()
				if rsp.StatusCode == http.StatusOK || rsp.StatusCode == http.StatusUnauthorized {
					logins.Add(1)
				} else {
					other.Add(1)
				}
			}
		})
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	var ds []time.Duration
	time.Sleep(200 * time.Millisecond) // the flood is under way
	for ctx.Err() == nil {
		start := time.Now()
		rsp, err := client.Get(base + "/" + slug + "/hello")
		if err != nil {
			continue
		}
		io.Copy(io.Discard, rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode == http.StatusOK {
			ds = append(ds, time.Since(start))
		}
	}
	wg.Wait()
	slices.Sort(ds)
	out.n = len(ds)
	if len(ds) > 0 {
		out.p50, out.p99 = ds[len(ds)/2], ds[len(ds)*99/100]
	}
	out.logins, out.other = logins.Load(), other.Load()
	return out
}
