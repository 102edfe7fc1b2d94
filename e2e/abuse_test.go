package e2e

// The abuse suite: what one hostile client can do to a real `oo server start`, and what it can
// no longer do. Each test drives the real binary over loopback only; addresses outside loopback
// are only ever registered, never dialed (the point of those tests is that nothing is).

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// abuseFDs counts the open file descriptors of the server process.
func abuseFDs(t *testing.T, p *serverProc) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Cmd.Process.Pid))
	if err != nil {
		t.Fatalf("counting the server's fds: %v", err)
	}
	return len(ents)
}

// abuseJSONError reads one HTTP response from br and checks its status and JSON error body.
func abuseJSONError(t *testing.T, what string, rsp *http.Response, status int) string {
	t.Helper()
	defer rsp.Body.Close()
	body, _ := io.ReadAll(rsp.Body)
	var e struct {
		Error string `json:"error"`
	}
	if rsp.StatusCode != status || !strings.HasPrefix(rsp.Header.Get("Content-Type"), "application/json") ||
		json.Unmarshal(body, &e) != nil || e.Error == "" {
		t.Fatalf("%s: HTTP %d %q %s, want %d with a JSON error", what, rsp.StatusCode, rsp.Header.Get("Content-Type"), body, status)
	}
	return e.Error
}

// TestAbuseStalledProxiedBody: connections that announce a body, send one byte and stop are each
// ended with a JSON 408 and closed after --proxy-body-idle-timeout, the backend's requests end
// too, and the server's descriptors return to where they were; a body that keeps trickling for
// longer than the timeout is not cut.
func TestAbuseStalledProxiedBody(t *testing.T) {
	t.Parallel()
	const stalled = 40
	var arrived, ended atomic.Int64
	backend := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			ended.Add(1)
			return
		}
		fmt.Fprintf(w, "%d", n)
	}))
	e := newEnv(t)
	p := e.StartServer("--probe-interval", "0", "--proxy-body-idle-timeout", "2s")
	serverAddInstance(t, p.URL, "stall-svc", backend)
	http.DefaultClient.CloseIdleConnections()
	before := abuseFDs(t, p)

	conns := make([]net.Conn, stalled)
	for i := range conns {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST /stall-svc/upload HTTP/1.1\r\nHost: %s\r\nContent-Length: 100000\r\n\r\nx", p.Addr)
		conns[i] = c
	}
	svcEventually(t, 30*time.Second, "every stalled request reaches the backend", func() bool { return arrived.Load() == stalled }, p.Log)
	during := abuseFDs(t, p)

	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
			br := bufio.NewReader(c)
			rsp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Errorf("stalled connection %d: %v", i, err)
				return
			}
			abuseJSONError(t, "stalled body", rsp, http.StatusRequestTimeout)
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("stalled connection %d not closed after the 408: %v", i, err)
			}
		}()
	}
	wg.Wait()
	svcEventually(t, 30*time.Second, "the backend's requests end", func() bool { return ended.Load() == stalled }, p.Log)
	var after int
	svcEventually(t, 30*time.Second, "the server's descriptors return to their level before the stall", func() bool {
		after = abuseFDs(t, p)
		return after <= before+2
	})
	t.Logf("server fds: %d before, %d with %d stalled bodies, %d after the idle timeout", before, during, stalled, after)

	// A body that keeps flowing, one byte every 400 ms for 4.8 s (more than two idle timeouts),
	// is not cut. The gap is a fifth of the timeout so a slow scheduler on a loaded CI machine
	// cannot turn a flowing body into a stalled one.
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const trickle = 12
	fmt.Fprintf(c, "POST /stall-svc/upload HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", p.Addr, trickle)
	for range trickle {
		time.Sleep(400 * time.Millisecond) // the pace of the trickle is the point, not a wait
		if _, err := c.Write([]byte("y")); err != nil {
			t.Fatalf("trickling body cut: %v", err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	rsp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK || string(body) != fmt.Sprint(trickle) {
		t.Fatalf("trickling body: HTTP %d %q, want 200 and all %d bytes at the backend", rsp.StatusCode, body, trickle)
	}
}

// newLoopbackServer serves h on 127.0.0.1 until the test ends and returns its URL.
func newLoopbackServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// abuseCall sends a JSON request and returns the response (the caller closes it).
func abuseCall(t *testing.T, method, url, token, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return rsp
}

// abuseInstances lists the registered instances' URLs and statuses.
func abuseInstances(t *testing.T, base, token string) map[string]string {
	t.Helper()
	rsp := abuseCall(t, http.MethodGet, base+"/registry-svc/instances", token, "")
	defer rsp.Body.Close()
	var out struct {
		Instances []struct {
			URL    string `json:"url"`
			Status string `json:"status"`
		} `json:"instances"`
	}
	if err := json.NewDecoder(rsp.Body).Decode(&out); err != nil || rsp.StatusCode != http.StatusOK {
		t.Fatalf("list instances: HTTP %d %v", rsp.StatusCode, err)
	}
	m := map[string]string{}
	for _, in := range out.Instances {
		m[in.URL] = in.Status
	}
	return m
}

// countingListener accepts connections on 127.0.0.1 and counts them; it answers nothing.
func countingListener(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), &n
}

// TestAbuseMetadataURLRefused: the cloud metadata address is refused at registration in every
// spelling (403 JSON, nothing stored, so nothing to probe or proxy to), and an instance the
// policy refuses later (--deny-targets on a restart) is never connected to by the prober or
// the proxy: the proxied request is a 502 naming the rule and the instance's listener sees no
// connection.
func TestAbuseMetadataURLRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.StartServer("--probe-interval", "100ms")
	code, tok := serverRegister(t, p.URL, "meta-svc")
	if code != http.StatusOK {
		t.Fatalf("register: HTTP %d", code)
	}
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://169.254.169.254:80", "HTTP://169.254.169.254./",
		"http://[::ffff:169.254.169.254]/", "http://[::ffff:a9fe:a9fe]/", "http://[fe80::1]:8080", "http://[fd00:ec2::254]/"} {
		rsp := abuseCall(t, http.MethodPut, p.URL+"/registry-svc/instance", tok, `{"url":"`+u+`"}`)
		msg := abuseJSONError(t, "registering "+u, rsp, http.StatusForbidden)
		if !strings.Contains(msg, "target policy") {
			t.Errorf("registering %s: %q does not name the target policy", u, msg)
		}
	}
	if got := abuseInstances(t, p.URL, tok); len(got) != 0 {
		t.Fatalf("refused registrations left instances: %v", got)
	}
	rsp := abuseCall(t, http.MethodGet, p.URL+"/meta-svc/latest/meta-data/", "", "")
	abuseJSONError(t, "proxying to a slug with only refused registrations", rsp, http.StatusNotFound)

	// An instance registered while allowed, then refused by --deny-targets after a restart.
	addr, dialed := countingListener(t)
	rsp = abuseCall(t, http.MethodPut, p.URL+"/registry-svc/instance", tok, `{"url":"http://`+addr+`"}`)
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusCreated {
		t.Fatalf("registering %s: HTTP %d", addr, rsp.StatusCode)
	}
	p.Stop()
	dialed.Store(0)
	p = e.StartServer("--probe-interval", "100ms", "--deny-targets", "127.0.0.1")
	rsp = abuseCall(t, http.MethodGet, p.URL+"/meta-svc/x", "", "")
	t.Logf("proxied request to the refused instance: HTTP %d", rsp.StatusCode)
	if rsp.StatusCode == http.StatusBadGateway {
		if msg := abuseJSONError(t, "proxying to a refused instance", rsp, http.StatusBadGateway); !strings.Contains(msg, "deny-targets") {
			t.Errorf("502 %q does not name the rule", msg)
		}
	} else {
		// The prober may have marked it down first: then there is nothing to route to.
		abuseJSONError(t, "proxying to a refused instance", rsp, http.StatusServiceUnavailable)
	}
	svcEventually(t, 30*time.Second, "the prober has tried the refused instance and marked it down", func() bool {
		s := abuseInstances(t, p.URL, tok)["http://"+addr]
		return s != "" && s != "Unknown" && s != "Healthy"
	})
	if n := dialed.Load(); n != 0 {
		t.Fatalf("the refused instance's listener accepted %d connections", n)
	}
	if !strings.Contains(p.Log.String(), "refused by the target policy") {
		t.Errorf("the server log does not say the stored instance is refused:\n%s", p.Log)
	}
}

// loginFrom posts a login for slug from the local address ip (any 127.0.0.0/8 address works on
// loopback), so that one test can be several clients.
func loginFrom(t *testing.T, ip, base, slug, password string) *http.Response {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{
		DialContext:       (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext,
		DisableKeepAlives: true,
	}}
	body, _ := json.Marshal(map[string]string{"slug": slug, "password": password})
	rsp, err := c.Post(base+"/user-svc/login", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("login %s from %s: %v", slug, ip, err)
	}
	return rsp
}

// wantThrottled checks a 429 with a JSON error and a Retry-After of whole seconds.
func wantThrottled(t *testing.T, what string, rsp *http.Response) string {
	t.Helper()
	ra := rsp.Header.Get("Retry-After")
	msg := abuseJSONError(t, what, rsp, http.StatusTooManyRequests)
	if n, err := fmt.Sscanf(ra, "%d", new(int)); n != 1 || err != nil {
		t.Errorf("%s: Retry-After %q is not a number of seconds", what, ra)
	}
	return msg
}

// TestAbuseLoginFlood: with --login-failures 5, a flood of 50 wrong passwords from one client
// gets exactly 5 answers from the password check and 45 429s; the right password from that
// client is then refused too, and so is the right password for the flooded slug from another
// address, while another client logging in to another account is not affected.
func TestAbuseLoginFlood(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.StartServer("--probe-interval", "0", "--login-failures", "5", "--login-failure-window", "1m")
	for _, slug := range []string{"flood-svc", "bystander-svc"} {
		if code, _ := serverRegister(t, p.URL, slug); code != http.StatusOK {
			t.Fatalf("register %s: HTTP %d", slug, code)
		}
	}
	const attempts = 50
	checked, throttled := 0, 0
	start := time.Now()
	for range attempts {
		rsp := loginFrom(t, "127.0.0.1", p.URL, "flood-svc", "wrong-password")
		switch rsp.StatusCode {
		case http.StatusUnauthorized:
			checked++
			rsp.Body.Close()
		case http.StatusTooManyRequests:
			throttled++
			wantThrottled(t, "flooded login", rsp)
		default:
			rsp.Body.Close()
			t.Fatalf("wrong password: HTTP %d", rsp.StatusCode)
		}
	}
	t.Logf("%d wrong-password logins in %s: %d checked (401), %d refused (429)", attempts, time.Since(start).Round(time.Millisecond), checked, throttled)
	if checked != 5 || throttled != attempts-5 {
		t.Fatalf("%d checked and %d throttled, want 5 and %d", checked, throttled, attempts-5)
	}
	if msg := wantThrottled(t, "right password from the flooding client", loginFrom(t, "127.0.0.1", p.URL, "flood-svc", "flood-svc-password")); msg == "" {
		t.Fatal("no message")
	}
	msg := wantThrottled(t, "right password for the flooded slug from another address", loginFrom(t, "127.0.0.2", p.URL, "flood-svc", "flood-svc-password"))
	if !strings.Contains(msg, "flood-svc") {
		t.Errorf("429 for the flooded slug %q does not name it", msg)
	}
	rsp := loginFrom(t, "127.0.0.3", p.URL, "bystander-svc", "bystander-svc-password")
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK {
		t.Fatalf("another client logging in to another account: HTTP %d, want 200", rsp.StatusCode)
	}
}

// TestAbuseInstanceQuota: with --max-instances 3 an account registers 3 instances, the 4th is a
// 403 JSON naming the flag, updating one it has is still allowed, removing one makes room, and
// an admin may register beyond the quota for that account.
func TestAbuseInstanceQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.StartServer("--probe-interval", "0", "--max-instances", "3")
	code, tok := serverRegister(t, p.URL, "quota-svc")
	if code != http.StatusOK {
		t.Fatalf("register: HTTP %d", code)
	}
	put := func(token, body string) *http.Response {
		return abuseCall(t, http.MethodPut, p.URL+"/registry-svc/instance", token, body)
	}
	ids := make([]string, 0, 3)
	for port := 1; port <= 3; port++ {
		rsp := put(tok, fmt.Sprintf(`{"url":"http://127.0.0.1:%d"}`, port))
		var out struct {
			Instance struct {
				ID string `json:"id"`
			} `json:"instance"`
		}
		_ = json.NewDecoder(rsp.Body).Decode(&out)
		rsp.Body.Close()
		if rsp.StatusCode != http.StatusCreated {
			t.Fatalf("instance %d of 3: HTTP %d", port, rsp.StatusCode)
		}
		ids = append(ids, out.Instance.ID)
	}
	msg := abuseJSONError(t, "4th instance", put(tok, `{"url":"http://127.0.0.1:4"}`), http.StatusForbidden)
	if !strings.Contains(msg, "--max-instances") {
		t.Errorf("quota refusal %q does not name --max-instances", msg)
	}
	if rsp := put(tok, `{"url":"http://127.0.0.1:3","healthPath":"/ready"}`); rsp.StatusCode/100 != 2 {
		t.Fatalf("updating an instance at the quota: HTTP %d", rsp.StatusCode)
	} else {
		rsp.Body.Close()
	}
	if got := len(abuseInstances(t, p.URL, tok)); got != 3 {
		t.Fatalf("%d instances after the refusal, want 3", got)
	}
	_, admin := serverLogin(t, p.URL, "admin", adminPassword)
	if rsp := put(admin, `{"url":"http://127.0.0.1:5","slug":"quota-svc"}`); rsp.StatusCode != http.StatusCreated {
		t.Fatalf("admin registering beyond the quota for quota-svc: HTTP %d", rsp.StatusCode)
	} else {
		rsp.Body.Close()
	}
	for _, id := range ids[:2] {
		rsp := abuseCall(t, http.MethodDelete, p.URL+"/registry-svc/instance/"+id, tok, "")
		rsp.Body.Close()
		if rsp.StatusCode != http.StatusNoContent {
			t.Fatalf("remove %s: HTTP %d", id, rsp.StatusCode)
		}
	}
	if rsp := put(tok, `{"url":"http://127.0.0.1:4"}`); rsp.StatusCode != http.StatusCreated {
		t.Fatalf("registering after removing two: HTTP %d, want 201", rsp.StatusCode)
	} else {
		rsp.Body.Close()
	}
}

// TestAbuseSpoofedIdentityHeaders complements TestProxyAddsVerifiedCallerAndDropsSpoofedOnes
// with what Go's client would not send: header names as written on the wire (lower case,
// underscores, repeated), and the caller headers as request trailers of a chunked body. The
// service sees only the verified identity of the token; no forged value arrives in a trailer.
func TestAbuseSpoofedIdentityHeaders(t *testing.T) {
	t.Parallel()
	type seen struct{ header, trailer http.Header }
	got := make(chan seen, 1)
	backend := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // trailers are there once the body is read
		got <- seen{r.Header.Clone(), r.Trailer.Clone()}
	}))
	e := newEnv(t)
	p := e.StartServer("--probe-interval", "0")
	serverAddInstance(t, p.URL, "spoof-svc", backend)
	code, tok := serverRegister(t, p.URL, "spoofer")
	if code != http.StatusOK {
		t.Fatalf("register: HTTP %d", code)
	}
	family := func(h http.Header) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			if strings.HasPrefix(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "x-oo-caller-") {
				out[k] = strings.Join(v, "|")
			}
		}
		return out
	}
	raw := func(req string) seen {
		t.Helper()
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		rsp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		rsp.Body.Close()
		if rsp.StatusCode != http.StatusOK {
			t.Fatalf("proxied request: HTTP %d", rsp.StatusCode)
		}
		select {
		case s := <-got:
			return s
		case <-time.After(30 * time.Second):
			t.Fatal("the backend saw nothing")
			return seen{}
		}
	}
	forged := "x-oo-caller-slug: admin\r\nX-Oo-Caller-Slug: admin\r\nX_OO_CALLER_ROLES: user-svc:admin\r\n" +
		"x-oo-caller-user-id: usr_forged\r\nX-Oo-Caller-Extra: x\r\n"

	// Forged headers with no token: the service gets none.
	s := raw("GET /spoof-svc/a HTTP/1.1\r\nHost: oo\r\n" + forged + "Connection: close\r\n\r\n")
	if f := family(s.header); len(f) != 0 {
		t.Errorf("no token: forged caller headers reached the service: %q", f)
	}
	// With a valid token: exactly the verified identity.
	s = raw("GET /spoof-svc/b HTTP/1.1\r\nHost: oo\r\nAuthorization: Bearer " + tok + "\r\n" + forged + "Connection: close\r\n\r\n")
	f := family(s.header)
	if f["X-Oo-Caller-Slug"] != "spoofer" || f["X-Oo-Caller-Roles"] != "user-svc:user" || !strings.HasPrefix(f["X-Oo-Caller-User-Id"], "usr_") || len(f) != 3 {
		t.Errorf("valid token: caller headers %q, want exactly the verified slug, user id and roles", f)
	}
	// Forged trailers of a chunked body, with and without a token.
	for _, auth := range []string{"", "Authorization: Bearer " + tok + "\r\n"} {
		s = raw("POST /spoof-svc/c HTTP/1.1\r\nHost: oo\r\n" + auth + "Transfer-Encoding: chunked\r\n" +
			"Trailer: X-Oo-Caller-Slug, X-Oo-Caller-Roles\r\nConnection: close\r\n\r\n" +
			"2\r\nhi\r\n0\r\nX-Oo-Caller-Slug: admin\r\nX-Oo-Caller-Roles: user-svc:admin\r\n\r\n")
		// The declared names arrive (empty): the proxy forwards the Trailer header, but the
		// values, which come after the body, never do.
		for k, v := range family(s.trailer) {
			if v != "" {
				t.Errorf("forged caller trailer %s: %q reached the service (token: %v)", k, v, auth != "")
			}
		}
		if f := family(s.header); f["X-Oo-Caller-Slug"] == "admin" || strings.Contains(f["X-Oo-Caller-Roles"], "admin") {
			t.Errorf("forged trailers became caller headers: %q", f)
		}
	}
}
