package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuf is a log destination read by the test while server goroutines write to it.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

// lines returns the non-empty log lines.
func (l *logBuf) lines() []string {
	var out []string
	for _, s := range strings.Split(l.String(), "\n") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// jsonLines decodes every line of a JSON-handler log.
func jsonLines(t *testing.T, l *logBuf) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, s := range l.lines() {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %q", err, s)
		}
		out = append(out, m)
	}
	return out
}

// textFields parses one slog text-handler line (key=value, values quoted only when needed).
func textFields(t *testing.T, line string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for rest := line; rest != ""; {
		rest = strings.TrimLeft(rest, " ")
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			t.Fatalf("no key=value at %q in %q", rest, line)
		}
		if strings.HasPrefix(v, `"`) {
			// A quoted value ends at the first unescaped quote.
			end := 1
			for ; end < len(v); end++ {
				if v[end] == '\\' {
					end++
					continue
				}
				if v[end] == '"' {
					break
				}
			}
			uq, err := strconv.Unquote(v[:end+1])
			if err != nil {
				t.Fatalf("bad quoted value in %q: %v", line, err)
			}
			m[k], rest = uq, v[end+1:]
			continue
		}
		val, after, _ := strings.Cut(v, " ")
		m[k], rest = val, after
	}
	return m
}

// commonServer serves withCommon(logger, h) with net/http's own error log captured, so a test
// can tell a panic recovered by the middleware from one that reached net/http.
func commonServer(t *testing.T, logger *slog.Logger, h http.Handler) (*httptest.Server, *logBuf) {
	t.Helper()
	httpLog := &logBuf{}
	srv := httptest.NewUnstartedServer(withCommon(logger, h))
	srv.Config.ErrorLog = log.New(httpLog, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, httpLog
}

// testMux answers /ok with 200 "ok", /teapot with 418, /quiet with nothing (implicit 200),
// /panic by panicking, and /abort by panicking with http.ErrAbortHandler. It records the
// request id each request carried on its way in.
func testMux(seen *sync.Map) http.Handler {
	mux := http.NewServeMux()
	record := func(r *http.Request) {
		if seen != nil {
			seen.Store(r.URL.Path, r.Header.Get(RequestIDHeader))
		}
	}
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/teapot", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		w.WriteHeader(http.StatusTeapot)
	})
	mux.HandleFunc("/quiet", func(w http.ResponseWriter, r *http.Request) { record(r) })
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		panic("boom in handler")
	})
	mux.HandleFunc("/abort", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		panic(http.ErrAbortHandler)
	})
	return mux
}

func get(t *testing.T, c *http.Client, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rsp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer rsp.Body.Close()
	b, err := io.ReadAll(rsp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return rsp, string(b)
}

// A panicking handler is a JSON 500 for the client and an error-level log line with the
// request id, and the server goes on serving (on the same keep-alive connection, too), whether
// or not the access log is on.
func TestCommonPanicIsJSON500AndLogged(t *testing.T) {
	for _, c := range []struct {
		name      string
		level     slog.Level
		accessLog bool
	}{{"access log on", slog.LevelInfo, true}, {"access log off", slog.LevelWarn, false}} {
		t.Run(c.name, func(t *testing.T) {
			logs := &logBuf{}
			logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: c.level}))
			srv, httpLog := commonServer(t, logger, testMux(nil))
			client := srv.Client()

			rsp, body := get(t, client, srv.URL+"/panic", nil)
			if rsp.StatusCode != http.StatusInternalServerError {
				t.Errorf("status %d, want 500", rsp.StatusCode)
			}
			if ct := rsp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var eb map[string]any
			if err := json.Unmarshal([]byte(body), &eb); err != nil {
				t.Fatalf("body is not JSON: %v: %q", err, body)
			}
			if len(eb) != 1 || eb["error"] != "internal server error" {
				t.Errorf(`body %q, want {"error":"internal server error"}`, body)
			}
			if strings.Contains(body, "boom") {
				t.Errorf("the panic value leaked to the client: %q", body)
			}
			id := rsp.Header.Get(RequestIDHeader)
			if id == "" {
				t.Errorf("no %s on the 500", RequestIDHeader)
			}

			var panics, access []map[string]any
			for _, m := range jsonLines(t, logs) {
				switch m["msg"] {
				case "panic in handler":
					panics = append(panics, m)
				case "request":
					access = append(access, m)
				}
			}
			if len(panics) != 1 {
				t.Fatalf("%d panic log lines, want 1; log:\n%s", len(panics), logs)
			}
			p := panics[0]
			if p["level"] != "ERROR" || p["request_id"] != id || p["method"] != "GET" || p["path"] != "/panic" ||
				p["panic"] != "boom in handler" || !strings.Contains(p["stack"].(string), "middleware_test.go") {
				t.Errorf("panic log line %v, want level ERROR, request_id %q, GET /panic, the value and a stack", p, id)
			}
			if c.accessLog {
				if len(access) != 1 || access[0]["status"] != float64(500) || access[0]["request_id"] != id {
					t.Errorf("access log %v, want one line with status 500 and request_id %q", access, id)
				}
			} else if len(access) != 0 {
				t.Errorf("access log lines at warn level: %v", access)
			}
			if s := httpLog.String(); s != "" {
				t.Errorf("net/http logged something (the panic or a superfluous WriteHeader): %s", s)
			}

			// The next request, on the same client (so the same keep-alive connection when
			// net/http reused it), is served normally.
			rsp, body = get(t, client, srv.URL+"/ok", nil)
			if rsp.StatusCode != http.StatusOK || body != "ok" {
				t.Errorf("request after the panic: HTTP %d %q", rsp.StatusCode, body)
			}
		})
	}
}

// http.ErrAbortHandler is net/http's "abort the response" signal (ReverseProxy panics with it
// when a backend dies mid-body). The middleware re-panics it: no 500 is written, nothing is
// logged at error level, net/http aborts the connection without logging a stack, and the
// server goes on serving.
func TestCommonErrAbortHandlerIsNotA500(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		t.Run(level.String(), func(t *testing.T) {
			logs := &logBuf{}
			logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))
			srv, httpLog := commonServer(t, logger, testMux(nil))
			client := srv.Client()

			rsp, err := client.Get(srv.URL + "/abort")
			if err == nil {
				b, _ := io.ReadAll(rsp.Body)
				rsp.Body.Close()
				t.Fatalf("aborted handler answered HTTP %d %q, want the connection aborted", rsp.StatusCode, b)
			}
			aborted := 0
			for _, m := range jsonLines(t, logs) {
				if m["level"] == "ERROR" || m["msg"] == "panic in handler" {
					t.Errorf("abort logged as an error: %v", m)
				}
				if m["msg"] == "request" && m["path"] == "/abort" && m["aborted"] == true {
					aborted++
				}
			}
			// An aborted response still gets its access-log line, marked aborted.
			if want := map[slog.Level]int{slog.LevelInfo: 1, slog.LevelWarn: 0}[level]; aborted != want {
				t.Errorf("%d access-log lines for the aborted request, want %d:\n%s", aborted, want, logs)
			}
			if s := httpLog.String(); strings.Contains(s, "panic") {
				t.Errorf("net/http logged the abort as a panic: %s", s)
			}
			rsp2, body := get(t, client, srv.URL+"/ok", nil)
			if rsp2.StatusCode != http.StatusOK || body != "ok" {
				t.Errorf("request after the abort: HTTP %d %q", rsp2.StatusCode, body)
			}
		})
	}
}

// accessCase is one request of the access-log tests and what its log line must say.
type accessCase struct {
	path     string
	clientID string // sent as X-Request-Id when not empty
	status   int
}

var accessCases = []accessCase{
	{"/ok", "", http.StatusOK},
	{"/teapot", "", http.StatusTeapot},
	{"/quiet", "", http.StatusOK},
	{"/ok", "client-chosen-id-42", http.StatusOK},
	{"/nowhere", "", http.StatusNotFound},
}

// runAccessCases sends each case's request one at a time and, after each, hands the new log
// lines and the response's X-Request-Id to check. It also checks what the id means: the
// client's id is kept, and the one the handler saw is the one echoed.
func runAccessCases(t *testing.T, logs *logBuf, srv *httptest.Server, seen *sync.Map,
	check func(t *testing.T, c accessCase, lines []string, id string)) {
	t.Helper()
	ids := map[string]bool{}
	for _, c := range accessCases {
		logs.Reset()
		var hdr map[string]string
		if c.clientID != "" {
			hdr = map[string]string{RequestIDHeader: c.clientID}
		}
		rsp, _ := get(t, srv.Client(), srv.URL+c.path, hdr)
		if rsp.StatusCode != c.status {
			t.Fatalf("GET %s: HTTP %d, want %d", c.path, rsp.StatusCode, c.status)
		}
		id := rsp.Header.Get(RequestIDHeader)
		if vs := rsp.Header.Values(RequestIDHeader); len(vs) != 1 {
			t.Errorf("GET %s: %d %s headers %q, want exactly one", c.path, len(vs), RequestIDHeader, vs)
		}
		switch {
		case id == "":
			t.Errorf("GET %s: no %s in the response", c.path, RequestIDHeader)
		case c.clientID != "" && id != c.clientID:
			t.Errorf("GET %s: client sent %s %q, response echoed %q", c.path, RequestIDHeader, c.clientID, id)
		case ids[id]:
			t.Errorf("GET %s: request id %q was already used by an earlier request", c.path, id)
		}
		ids[id] = true
		if c.path != "/nowhere" {
			if v, _ := seen.Load(c.path); v != id {
				t.Errorf("GET %s: handler saw %s %q, response says %q", c.path, RequestIDHeader, v, id)
			}
		}
		// The handler has returned, and the line is written before the response is finished,
		// so it is there now.
		check(t, c, logs.lines(), id)
	}
}

func TestCommonAccessLogText(t *testing.T) {
	logs := &logBuf{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	seen := &sync.Map{}
	srv, _ := commonServer(t, logger, testMux(seen))
	runAccessCases(t, logs, srv, seen, func(t *testing.T, c accessCase, lines []string, id string) {
		if len(lines) != 1 {
			t.Fatalf("GET %s: %d log lines, want 1:\n%s", c.path, len(lines), strings.Join(lines, "\n"))
		}
		f := textFields(t, lines[0])
		if f["level"] != "INFO" || f["msg"] != "request" || f["method"] != "GET" || f["path"] != c.path ||
			f["status"] != strconv.Itoa(c.status) || f["request_id"] != id {
			t.Errorf("GET %s: log line %q, want INFO request GET %s status=%d request_id=%s",
				c.path, lines[0], c.path, c.status, id)
		}
		if d, err := time.ParseDuration(f["duration"]); err != nil || d < 0 {
			t.Errorf("GET %s: duration %q is not a duration: %v", c.path, f["duration"], err)
		}
	})
}

func TestCommonAccessLogJSON(t *testing.T) {
	logs := &logBuf{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	seen := &sync.Map{}
	srv, _ := commonServer(t, logger, testMux(seen))
	runAccessCases(t, logs, srv, seen, func(t *testing.T, c accessCase, lines []string, id string) {
		if len(lines) != 1 {
			t.Fatalf("GET %s: %d log lines, want 1:\n%s", c.path, len(lines), strings.Join(lines, "\n"))
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
			t.Fatalf("not JSON: %v: %q", err, lines[0])
		}
		if m["level"] != "INFO" || m["msg"] != "request" || m["method"] != "GET" || m["path"] != c.path ||
			m["status"] != float64(c.status) || m["request_id"] != id {
			t.Errorf("GET %s: log line %s, want INFO request GET %s status %d request_id %s",
				c.path, lines[0], c.path, c.status, id)
		}
		// slog's JSON handler writes a Duration as integer nanoseconds.
		if d, ok := m["duration"].(float64); !ok || d < 0 {
			t.Errorf("GET %s: duration %v (%T), want a non-negative number", c.path, m["duration"], m["duration"])
		}
	})
}

// At warn level the access log is off: requests write nothing, but ids are still made, kept
// and echoed.
func TestCommonAccessLogOffAtWarn(t *testing.T) {
	for _, h := range []struct {
		name string
		mk   func(io.Writer, *slog.HandlerOptions) slog.Handler
	}{
		{"text", func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) }},
		{"json", func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewJSONHandler(w, o) }},
	} {
		t.Run(h.name, func(t *testing.T) {
			logs := &logBuf{}
			logger := slog.New(h.mk(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
			seen := &sync.Map{}
			srv, _ := commonServer(t, logger, testMux(seen))
			runAccessCases(t, logs, srv, seen, func(t *testing.T, c accessCase, lines []string, id string) {
				if len(lines) != 0 {
					t.Errorf("GET %s at warn level wrote %q", c.path, lines)
				}
			})
		})
	}
}

// The response's X-Request-Id and the request's must not share storage: a handler that adds
// to one must not change the other (withCommon hands both maps slices of one array).
func TestCommonRequestIDHeadersIndependent(t *testing.T) {
	var inAfter []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add(RequestIDHeader, "added-by-handler")
		w.Header()[RequestIDHeader][0] = "overwritten-by-handler"
		inAfter = append([]string(nil), r.Header[RequestIDHeader]...)
	})
	srv, _ := commonServer(t, slog.New(slog.NewTextHandler(io.Discard, nil)), h)
	rsp, _ := get(t, srv.Client(), srv.URL+"/x", nil)
	if len(inAfter) != 1 || inAfter[0] == "" || strings.Contains(inAfter[0], "by-handler") {
		t.Errorf("request's %s became %q after the handler changed the response's", RequestIDHeader, inAfter)
	}
	if got := rsp.Header.Values(RequestIDHeader); len(got) != 2 || got[0] != "overwritten-by-handler" {
		t.Errorf("response %s = %q", RequestIDHeader, got)
	}
}

// A handler that panics after its response started cannot get a 500 any more: the client must
// see the bytes the handler wrote and nothing else (no JSON error glued onto the body), and
// net/http must not warn about a superfluous WriteHeader.
func TestCommonPanicAfterResponseStarted(t *testing.T) {
	for _, c := range []struct {
		name  string
		level slog.Level
	}{{"access log on", slog.LevelInfo}, {"access log off", slog.LevelWarn}} {
		t.Run(c.name, func(t *testing.T) {
			logs := &logBuf{}
			logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: c.level}))
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "partial;")
				panic("late boom")
			})
			srv, httpLog := commonServer(t, logger, h)
			rsp, err := srv.Client().Get(srv.URL + "/late")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rsp.Body)
			rsp.Body.Close()
			if rsp.StatusCode != http.StatusOK || string(b) != "partial;" {
				t.Errorf("HTTP %d %q, want the started 200 with only the handler's bytes", rsp.StatusCode, b)
			}
			if s := httpLog.String(); s != "" {
				t.Errorf("net/http logged: %s", s)
			}
			var logged bool
			for _, m := range jsonLines(t, logs) {
				if m["msg"] == "panic in handler" && m["level"] == "ERROR" && m["request_id"] == rsp.Header.Get(RequestIDHeader) {
					logged = true
				}
			}
			if !logged {
				t.Errorf("the panic was not logged with the request id:\n%s", logs)
			}
		})
	}
}

// A client's X-Request-Id is echoed, forwarded and logged with every line, so only a short,
// printable one is kept; anything else is replaced by a generated id (issue 11).
func TestCommonRequestIDBounded(t *testing.T) {
	logs := &logBuf{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	seen := &sync.Map{}
	srv, _ := commonServer(t, logger, testMux(seen))
	longest := strings.Repeat("x", 128) // MaxRequestIDLen, spelled out so the test runs on old code
	for _, c := range []struct {
		name, id string
		kept     bool
	}{
		{"printable", "req-1.2_3:abc/~", true},
		{"at the bound", longest, true},
		{"one over the bound", longest + "y", false},
		{"500 KB", strings.Repeat("a", 500<<10), false},
		{"inner space", "two words", false},
		{"inner tab", "tab\there", false},
		{"non-ASCII", "caf\u00e9", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			logs.Reset()
			rsp, _ := get(t, srv.Client(), srv.URL+"/ok", map[string]string{RequestIDHeader: c.id})
			got := rsp.Header.Get(RequestIDHeader)
			if c.kept && got != c.id {
				t.Fatalf("id %q was replaced by %q", c.id, got)
			}
			if !c.kept && (got == c.id || got == "" || len(got) > 40 || strings.ContainsAny(got, " \t")) {
				t.Fatalf("id of %d bytes echoed as %d bytes %.60q", len(c.id), len(got), got)
			}
			if v, _ := seen.Load("/ok"); v != got {
				t.Errorf("handler saw %.60q, response says %q", v, got)
			}
			if n := len(strings.Join(logs.lines(), "\n")); n > 1024 {
				t.Errorf("access log line is %d bytes", n)
			}
		})
	}
}

// onlyUnwrap is a middleware's writer that offers Unwrap and no Flush.
type onlyUnwrap struct{ http.ResponseWriter }

func (o onlyUnwrap) Unwrap() http.ResponseWriter { return o.ResponseWriter }

// A flush in a handler reaches the connection through a writer below withCommon's that offers
// only Unwrap (as the test servers' conformance recorder does): dropping it would hold a
// stream's events in the server's buffer.
func TestCommonFlushGoesThroughUnwrap(t *testing.T) {
	h := withCommon(slog.New(slog.NewTextHandler(io.Discard, nil)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "data: 1\n\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(onlyUnwrap{rec}, httptest.NewRequest(http.MethodGet, "/x", nil))
	if !rec.Flushed {
		t.Fatal("the flush did not reach the writer under the middleware")
	}
}
