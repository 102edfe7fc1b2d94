package httpapi_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// recorder is a backend that notes every request it read to the end, keyed by the proxy that
// sent it (its Via pseudonym), and answers with a summary of it so that the client side of the
// comparison sees it too.
type recorder struct {
	mu   sync.Mutex
	seen map[string][]string
}

var (
	viaName   = regexp.MustCompile(`oo-[0-9a-f]{12}`)
	genID     = regexp.MustCompile(`^[0-9a-f]{12}-[0-9a-z]+$`)
	proxyVias = regexp.MustCompile(`1\.1 oo-[0-9a-f]{12}$`)
)

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // an incomplete request is not compared: when it ends is a matter of timing
	}
	via := r.Header.Get("Via")
	who := proxyVias.FindString(via)
	s := describeRequest(r, body)
	rec.mu.Lock()
	rec.seen[who] = append(rec.seen[who], s)
	rec.mu.Unlock()
	switch {
	case strings.Contains(r.URL.Path, "/stream"):
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "part one;")
		w.(http.Flusher).Flush()
		io.WriteString(w, s)
	case strings.Contains(r.URL.Path, "/empty"):
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Backend", "yes")
		io.WriteString(w, s)
	}
}

// describeRequest is what a backend can tell about a request, with what legitimately differs
// between two servers (their Via pseudonym, generated request ids) normalised.
func describeRequest(r *http.Request, body []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s host=%s len=%d te=%v\n", r.Method, r.RequestURI, r.Proto, r.Host, r.ContentLength, r.TransferEncoding)
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range r.Header[k] {
			switch k {
			case "Via", "X-Forwarded-Host", "Forwarded":
				v = viaName.ReplaceAllString(v, "oo-X")
			case "X-Request-Id":
				if genID.MatchString(v) {
					v = "GENERATED"
				}
			}
			fmt.Fprintf(&b, "%s: %q\n", k, v)
		}
	}
	fmt.Fprintf(&b, "body %q\n", body)
	return b.String()
}

// exchange sends raw bytes on one connection and describes every response read until the
// server closes it or nothing more comes.
func exchangeRaw(t *testing.T, addr string, raw []byte, head []bool) []string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(raw); err != nil {
		return []string{"write: " + err.Error()}
	}
	br := bufio.NewReader(c)
	var out []string
	for i := 0; ; i++ {
		req := &http.Request{Method: http.MethodGet}
		if i < len(head) && head[i] {
			req.Method = http.MethodHead
		}
		rsp, err := http.ReadResponse(br, req)
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, io.EOF):
				out = append(out, "closed")
			case errors.As(err, &ne) && ne.Timeout():
				out = append(out, "no more")
			default:
				out = append(out, "unreadable response")
			}
			return out
		}
		body, err := io.ReadAll(rsp.Body)
		if err != nil {
			out = append(out, "cut-off response")
			return out
		}
		out = append(out, describeResponse(rsp, body))
	}
}

func describeResponse(rsp *http.Response, body []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s len=%d\n", rsp.Status, len(body))
	keys := make([]string, 0, len(rsp.Header))
	for k := range rsp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case "Date", "Content-Length", "Connection":
			// Date moves on; framing is each hop's own (a small body gets a length from
			// net/http where it is streamed chunked by the fast path). Compared: the body.
			continue
		}
		for _, v := range rsp.Header[k] {
			if k == "X-Request-Id" && genID.MatchString(v) {
				v = "GENERATED"
			}
			fmt.Fprintf(&b, "%s: %q\n", k, v)
		}
	}
	s := viaName.ReplaceAllString(string(body), "oo-X")
	fmt.Fprintf(&b, "body %q\n", s)
	return b.String()
}

// FuzzProxyPathsAgree sends the same bytes — one generated request, optionally a second one
// pipelined behind it, then a closing request — to a server with the fast path and to one
// serving everything with net/http, both proxying to the same recording backend. The backend
// must receive the same requests (method, target, headers, framing, body) from both, and the
// client the same responses. The generated head may hold anything, smuggling material
// included (Content-Length with Transfer-Encoding, two lengths, obs-fold, bare LF, huge chunk
// sizes): the fast path has to refuse or hand such a request to net/http, and then the two
// agree by construction; forwarding it its own way would show here.
func FuzzProxyPathsAgree(f *testing.F) {
	rec := &recorder{seen: map[string][]string{}}
	backend := httptest.NewServer(rec)
	f.Cleanup(backend.Close)
	start := func(netHTTP bool) string {
		s := servertest.Start(f, func(c *server.Config) { c.ProxyNetHTTPOnly = netHTTP })
		tok := s.Register(f, "fz-svc", "fz-svc-password-1234")
		if code := s.Do(f, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: backend.URL}, nil); code != http.StatusCreated {
			f.Fatalf("register instance: HTTP %d", code)
		}
		return strings.TrimPrefix(s.URL, "http://")
	}
	fast, slow := start(false), start(true)

	seeds := []struct {
		method            string
		target, hdr, body string
		pipeline          bool
	}{
		{"GET", "/fz-svc/a?b=c&d", "User-Agent: x\r\nAccept: */*\r\n", "", false},
		{"POST", "/fz-svc/upload", "Content-Length: 5\r\nContent-Type: text/plain\r\n", "hello", true},
		{"POST", "/fz-svc/upload", "Transfer-Encoding: chunked\r\n", "5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", true},
		{"PUT", "/fz-svc/stream", "Content-Length: 0\r\nX-Request-Id: client-id-1\r\n", "", false},
		{"GET", "/fz-svc/empty", "X-Forwarded-For: 1.2.3.4\r\nForwarded: for=1.2.3.4\r\nVia: 1.0 other\r\n", "", true},
		{"GET", "/fz-svc/x", "Connection: keep-alive, close\r\nKeep-Alive: 5\r\nX-Oo-Caller-Slug: forged\r\n", "", true},
		{"GET", "/no-such-svc/x", "", "", true},
		{"DELETE", "/fz-svc/%41b/c%2f", "Authorization: Bearer nope\r\n", "", true},
		// smuggling material
		{"POST", "/fz-svc/s", "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\nGET /fz-svc/smuggled HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"POST", "/fz-svc/s", "Content-Length: 4\r\nContent-Length: 40\r\n", "abcd", true},
		{"POST", "/fz-svc/s", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", "0\r\n\r\n", true},
		{"GET", "/fz-svc/s", "X-A: 1\r\n continued\r\n", "", true},
		{"GET", "/fz-svc/s", "X-A: 1\nX-B: 2\r\n", "", true},
		{"POST", "/fz-svc/s", "Transfer-Encoding: chunked\r\n", "fffffffffffffffff\r\nx\r\n0\r\n\r\n", true},
		{"POST", "/fz-svc/s", "Transfer-Encoding: chunked\r\n", "5\nhello\r\n0\r\n\r\n", true},
		{"POST", "/fz-svc/s", "Content-Length: +5\r\n", "hello", true},
		{"POST", "/fz-svc/s", "Transfer-Encoding: Chunked \r\n", "0\r\n\r\n", true},
		{"GET", "/fz-svc/s", "Host: second\r\n", "", true},
		{"GET", "/fz-svc/s", "Expect: 100-continue\r\nUpgrade: websocket\r\nConnection: upgrade\r\n", "", true},
		{"GET", "/user-svc/../fz-svc/x", "", "", true},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.hdr, s.body, s.pipeline)
	}
	f.Fuzz(func(t *testing.T, method, target, hdr, body string, pipeline bool) {
		if len(method)+len(target)+len(hdr)+len(body) > 8<<10 {
			t.Skip("larger than a head the fast path buffers; not what this compares")
		}
		raw := method + " " + target + " HTTP/1.1\r\nHost: fuzz.example\r\n" + hdr + "\r\n" + body
		var heads []bool
		heads = append(heads, method == http.MethodHead)
		if pipeline {
			raw += "GET /fz-svc/second HTTP/1.1\r\nHost: fuzz.example\r\n\r\n"
			heads = append(heads, false)
		}
		raw += "GET /fz-svc/last HTTP/1.1\r\nHost: fuzz.example\r\nConnection: close\r\n\r\n"
		heads = append(heads, false)

		rec.mu.Lock()
		clear(rec.seen)
		rec.mu.Unlock()
		gotFast := exchangeRaw(t, fast, []byte(raw), heads)
		gotSlow := exchangeRaw(t, slow, []byte(raw), heads)
		if strings.Join(gotFast, "\n--\n") != strings.Join(gotSlow, "\n--\n") {
			t.Fatalf("the client got different answers for %q\nfast path:\n%s\nnet/http:\n%s", raw,
				strings.Join(gotFast, "--\n"), strings.Join(gotSlow, "--\n"))
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var views [][]string
		for _, v := range rec.seen {
			views = append(views, v)
		}
		switch {
		case len(views) == 2 && strings.Join(views[0], "--\n") == strings.Join(views[1], "--\n"):
		case len(views) == 0:
		default:
			t.Fatalf("the backend got different requests for %q:\n%v", raw, rec.seen)
		}
	})
}
