package proxy_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ooctl/oo/server/registry"
)

// Through the real proxy: X-Real-Ip is the peer, whatever the client claims, and Forwarded is
// the client's chain with this hop appended, like X-Forwarded-For.
func TestRealIPAndForwardedThroughProxy(t *testing.T) {
	bothPaths(t, testRealIPAndForwardedThroughProxy)
}

func testRealIPAndForwardedThroughProxy(t *testing.T) {
	backend := echoBackend(t)
	reg, px := setup(t, registry.Options{})
	register(t, reg, backend.URL)
	rsp, body := get(t, px.URL+"/echo-svc/x", "X-Real-Ip", "203.0.113.66", "Forwarded", "for=203.0.113.7;proto=https",
		"X-Forwarded-For", "203.0.113.7")
	if rsp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d %s", rsp.StatusCode, body)
	}
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(px.URL, "http://")
	if got := e.Headers["X-Real-Ip"]; len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("X-Real-Ip %q, want [127.0.0.1]", got)
	}
	want := `for=203.0.113.7;proto=https, for=127.0.0.1;host="` + host + `";proto=http`
	if got := e.Headers["Forwarded"]; len(got) != 1 || got[0] != want {
		t.Errorf("Forwarded %q, want [%s]", got, want)
	}
	if got := e.Headers.Get("X-Forwarded-For"); got != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", got)
	}
}
