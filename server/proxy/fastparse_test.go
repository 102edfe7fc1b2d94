package proxy

import "testing"

func TestParseRequestPlain(t *testing.T) {
	var h reqHead
	req := "GET /echo-svc/a?b=c HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\n\r\nrest"
	n, v := parseRequest([]byte(req), &h)
	if v != vFast || n != len(req)-4 {
		t.Fatalf("verdict %d, n %d", v, n)
	}
	if string(h.slug) != "echo-svc" || string(h.path) != "/echo-svc/a" || string(h.host) != "x" || !h.idOK {
		t.Fatalf("%+v", h)
	}
}
