package proxy

import (
	"crypto/tls"
	"errors"
	"github.com/ooctl/oo/server/registry"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/auth"
)

// fuzzIdentity accepts the token "good" only.
type fuzzIdentity struct{}

func (fuzzIdentity) Authenticate(tok string) (auth.Principal, error) {
	if tok == "good" {
		return auth.Principal{UserID: "usr_good", Slug: "good-svc", Roles: []string{api.RoleUser}}, nil
	}
	return auth.Principal{}, errors.New("no")
}

// forwardedPairs parses one RFC 7239 forwarded-element strictly: token=value pairs separated by
// ';', a value a token or a quoted-string; a ',' outside quotes (a second element) is an error.
func forwardedPairs(el string) (map[string]string, bool) {
	pairs := map[string]string{}
	for el != "" {
		eq := strings.IndexByte(el, '=')
		if eq <= 0 || strings.ContainsAny(el[:eq], ";,\" ") {
			return nil, false
		}
		key, rest := strings.ToLower(el[:eq]), el[eq+1:]
		var val strings.Builder
		if strings.HasPrefix(rest, `"`) {
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' {
					i++
					if i == len(rest) {
						return nil, false
					}
				}
				if rest[i] < 0x20 && rest[i] != '\t' || rest[i] == 0x7f {
					return nil, false
				}
				val.WriteByte(rest[i])
			}
			if i == len(rest) {
				return nil, false
			}
			rest = rest[i+1:]
		} else {
			end := strings.IndexAny(rest, ";,")
			if end < 0 {
				end = len(rest)
			}
			val.WriteString(rest[:end])
			rest = rest[end:]
		}
		if _, dup := pairs[key]; dup {
			return nil, false
		}
		pairs[key] = val.String()
		switch {
		case rest == "":
			el = ""
		case rest[0] == ';':
			el = rest[1:]
		default:
			return nil, false
		}
	}
	return pairs, true
}

// FuzzForwardedHeaders drives the proxy's header rewriting with any client address, Host,
// X-Forwarded-For, Forwarded, X-Real-Ip, bearer token and one more header of the client's
// choosing. X-Forwarded-* equal what httputil.ProxyRequest.SetXForwarded produces (inbound chain
// kept); the last X-Forwarded-For entry, X-Real-Ip and the for= of oo's own Forwarded element
// are the peer address; oo's element is one element whose host= is the client's Host exactly,
// so a Host cannot inject a forged element; and caller headers (any spelling of the
// X-Oo-Caller- family) reach the service only for an accepted token, as exactly the verified
// identity.
func FuzzForwardedHeaders(f *testing.F) {
	p := &Proxy{identity: fuzzIdentity{}}
	f.Fuzz(func(t *testing.T, remote, host, xff, fwd, xri, name, value, token string, isTLS bool) {
		in := httptest.NewRequest(http.MethodGet, "http://oo.example/svc/x", nil)
		in.RemoteAddr, in.Host = remote, host
		if isTLS {
			in.TLS = &tls.ConnectionState{}
		}
		for k, v := range map[string]string{"X-Forwarded-For": xff, "Forwarded": fwd, "X-Real-Ip": xri} {
			if v != "" {
				in.Header[k] = strings.Split(v, "\n")
			}
		}
		if name != "" {
			in.Header[name] = []string{value}
		}
		if token != "" {
			in.Header["Authorization"] = []string{"Bearer " + token}
		}
		// What ReverseProxy hands to Rewrite: the client's headers without the ones it rewrites.
		out := in.Header.Clone()
		for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"} {
			delete(out, k)
		}

		want := stdXForwarded(in)
		setXForwarded(in, out)
		setClientAddr(in, out)
		p.setCaller(in, out)
		for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
			if !slices.Equal(out[k], want[k]) {
				t.Fatalf("%s: got %q, SetXForwarded gives %q", k, out[k], want[k])
			}
		}

		accepted := strings.TrimSpace(token) == "good"
		for k, v := range out {
			if !strings.HasPrefix(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "x-oo-caller-") {
				continue
			}
			wantV := map[string]string{api.HeaderCallerSlug: "good-svc", api.HeaderCallerUserID: "usr_good", api.HeaderCallerRoles: api.RoleUser}[k]
			if !accepted || wantV == "" || !slices.Equal(v, []string{wantV}) {
				t.Fatalf("token %q (accepted %v): the service gets %s: %q", token, accepted, k, v)
			}
		}
		if accepted && len(out[api.HeaderCallerSlug]) != 1 {
			t.Fatalf("accepted token, but no %s", api.HeaderCallerSlug)
		}

		ip, _, err := net.SplitHostPort(remote)
		if err != nil {
			if _, ok := out["X-Forwarded-For"]; ok {
				t.Fatalf("RemoteAddr %q has no host:port, yet X-Forwarded-For %q was sent", remote, out["X-Forwarded-For"])
			}
			if _, ok := out["X-Real-Ip"]; ok {
				t.Fatalf("RemoteAddr %q has no host:port, yet X-Real-Ip %q was sent", remote, out["X-Real-Ip"])
			}
			return
		}
		chain := out["X-Forwarded-For"]
		if len(chain) != 1 || (chain[0] != ip && !strings.HasSuffix(chain[0], ", "+ip)) {
			t.Fatalf("X-Forwarded-For %q does not end with the peer address %q", chain, ip)
		}
		if !slices.Equal(out["X-Real-Ip"], []string{ip}) {
			t.Fatalf("X-Real-Ip %q, want the peer address %q", out["X-Real-Ip"], ip)
		}
		fw := out["Forwarded"]
		prefix := ""
		if prior := in.Header["Forwarded"]; len(prior) > 0 {
			prefix = strings.Join(prior, ", ") + ", "
		}
		if len(fw) != 1 || !strings.HasPrefix(fw[0], prefix) {
			t.Fatalf("Forwarded %q does not keep the client's chain %q", fw, prefix)
		}
		if strings.ContainsFunc(host, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return // net/http refuses such a Host before any handler runs
		}
		if _, err := netip.ParseAddr(ip); err != nil {
			return // RemoteAddr comes from the TCP connection: always an address
		}
		pairs, ok := forwardedPairs(strings.TrimPrefix(fw[0], prefix))
		forIP := ip
		if strings.Contains(ip, ":") {
			forIP = "[" + ip + "]"
		}
		proto := map[bool]string{false: "http", true: "https"}[isTLS]
		if !ok || len(pairs) != 3 || pairs["for"] != forIP || pairs["host"] != host || pairs["proto"] != proto {
			t.Fatalf("oo's Forwarded element %q (Host %q) parses as %q (ok %v), want for=%s host=%q proto=%s",
				strings.TrimPrefix(fw[0], prefix), host, pairs, ok, forIP, host, proto)
		}
	})
}

// The fast path's Forwarded element quotes the client address as the net/http path's does
// (forwardedElement): an IPv6 zone is an interface name and may hold a quote or a backslash,
// which must be escaped or the element would end early (found by FuzzForwardedHeaders).
func TestFastForwardedEscapesTheZone(t *testing.T) {
	const req = "GET /echo-svc/a HTTP/1.1\r\nHost: h\r\n\r\n"
	for _, ip := range []string{"::1", `fe80::1%e"t\h`, "10.0.0.1"} {
		fc := &fconn{s: &FastServer{p: &Proxy{via: "1.1 oo-test"}}, ip: ip, id: []byte("rid"), rbuf: []byte(req)}
		n, v := parseRequest(fc.rbuf, &fc.h)
		if v != vFast {
			t.Fatalf("parseRequest: verdict %d", v)
		}
		fc.headLen = n
		out := string(fc.buildHead(nil, &registry.Target{Host: "127.0.0.1:9"}))
		_, line, _ := strings.Cut(out, "\r\nForwarded: ")
		line, _, _ = strings.Cut(line, "\r\n")
		pairs, ok := forwardedPairs(line)
		want := ip
		if strings.Contains(ip, ":") {
			want = "[" + ip + "]"
		}
		if !ok || pairs["for"] != want || pairs["host"] != "h" || pairs["proto"] != "http" {
			t.Errorf("client %q: Forwarded %q parses as %q (ok %v), want for=%s host=%q", ip, line, pairs, ok, want, "h")
		}
		if line != forwardedElement(ip, "h", false) {
			t.Errorf("client %q: fast path %q, net/http path %q", ip, line, forwardedElement(ip, "h", false))
		}
	}
}
