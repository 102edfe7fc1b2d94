package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/server/servertest"
)

// Some requests are answered by net/http before any handler of ours runs, so they get its plain
// text, not our JSON. docs/api.md ("Answers before the API") lists them; this test keeps that
// list true.
func TestAnswersBeforeTheHandlers(t *testing.T) {
	s := servertest.Start(t)
	addr := strings.TrimPrefix(s.URL, "http://")
	for _, c := range []struct {
		name, raw string
		status    int
	}{
		{"malformed request line", "garbage\r\n\r\n", 400},
		{"no Host header", "GET /x HTTP/1.1\r\n\r\n", 400},
		{"malformed header", "GET /x HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400},
		{"two Content-Lengths", "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
		{"headers over 1 MiB", "GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20+4096) + "\r\n\r\n", 431},
		{"unknown transfer coding", "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"HTTP/2.0 request line", "GET /x HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"HTTP/3.0 request line", "GET /x HTTP/3.0\r\nHost: x\r\n\r\n", 505},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			go io.WriteString(conn, c.raw) // the server may answer before reading it all
			rsp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			body, _ := io.ReadAll(rsp.Body)
			rsp.Body.Close()
			if rsp.StatusCode != c.status || !strings.HasPrefix(rsp.Header.Get("Content-Type"), "text/plain") || !rsp.Close {
				t.Fatalf("HTTP %d %q close=%v %q; docs/api.md says %d, plain text, connection closed",
					rsp.StatusCode, rsp.Header.Get("Content-Type"), rsp.Close, body, c.status)
			}
			t.Logf("%d %q", rsp.StatusCode, body)
		})
	}
}
