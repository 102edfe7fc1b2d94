package proxy

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/ooctl/oo/server/auth"
)

func TestOwnsHeader(t *testing.T) {
	for name, want := range map[string]bool{
		"X-Oo-Caller-Slug": true, "x-oo-caller-slug": true, "X_OO_CALLER_ROLES": true, "X-Oo-Caller-": true,
		"X-Oo-Caller-Anything-New": true, "X-Oo-Caller_User_Id": true,
		"X-Oo-Calle": false, "X-Oo-Callers": false, "X-Oo-Request": false, "Authorization": false, "": false,
	} {
		if got := ownsHeader(name); got != want {
			t.Errorf("ownsHeader(%q) = %v, want %v", name, got, want)
		}
	}
}

type fakeIdentity map[string]auth.Principal

func (f fakeIdentity) Authenticate(tok string) (auth.Principal, error) {
	if p, ok := f[tok]; ok {
		return p, nil
	}
	return auth.Principal{}, errors.New("invalid token")
}

func TestSetCaller(t *testing.T) {
	p := &Proxy{identity: fakeIdentity{"good": {UserID: "usr_1", Slug: "app", Roles: []string{"user-svc:user", "user-svc:admin"}}}}
	for _, c := range []struct {
		authz string
		want  http.Header
	}{
		{"Bearer good", http.Header{"X-Oo-Caller-Slug": {"app"}, "X-Oo-Caller-User-Id": {"usr_1"}, "X-Oo-Caller-Roles": {"user-svc:user,user-svc:admin"}}},
		{"bearer  good ", http.Header{"X-Oo-Caller-Slug": {"app"}, "X-Oo-Caller-User-Id": {"usr_1"}, "X-Oo-Caller-Roles": {"user-svc:user,user-svc:admin"}}},
		{"Bearer bad", http.Header{}},
		{"Basic Z29vZA==", http.Header{}},
		{"", http.Header{}},
	} {
		in := httptest.NewRequest(http.MethodGet, "/svc/x", nil)
		if c.authz != "" {
			in.Header.Set("Authorization", c.authz)
		}
		out := http.Header{"X-Oo-Caller-Slug": {"forged"}, "X_oo_caller_roles": {"forged"}, "X-Oo-Caller-Extra": {"forged"}}
		p.setCaller(in, out)
		if len(out) != len(c.want) {
			t.Errorf("%q: headers %q, want %q", c.authz, out, c.want)
		}
		for k, v := range c.want {
			if !slices.Equal(out[k], v) {
				t.Errorf("%q: %s = %q, want %q", c.authz, k, out[k], v)
			}
		}
	}
	// Without an identity source the forged headers still go.
	out := http.Header{"X-Oo-Caller-Slug": {"forged"}, "Accept": {"*/*"}}
	(&Proxy{}).setCaller(httptest.NewRequest(http.MethodGet, "/svc/x", nil), out)
	if len(out) != 1 || out.Get("Accept") != "*/*" {
		t.Errorf("no identity source: %q", out)
	}
}

func TestSetClientAddr(t *testing.T) {
	cases := []struct {
		name      string
		remote    string
		host      string
		tls       bool
		forwarded []string
		realIP    string
		wantReal  string
		wantFwd   string
	}{
		{"plain", "192.0.2.1:5000", "oo.example:8080", false, nil, "", "192.0.2.1", `for=192.0.2.1;host="oo.example:8080";proto=http`},
		{"client claims", "192.0.2.1:5000", "oo.example", true, []string{"for=203.0.113.7"}, "203.0.113.66", "192.0.2.1",
			`for=203.0.113.7, for=192.0.2.1;host="oo.example";proto=https`},
		{"two lines", "[2001:db8::1]:5000", "h", false, []string{"for=a", "for=b"}, "", "2001:db8::1", `for=a, for=b, for="[2001:db8::1]";host="h";proto=http`},
		{"quote in host", "192.0.2.1:1", `a"b\c`, false, nil, "", "192.0.2.1", `for=192.0.2.1;host="a\"b\\c";proto=http`},
		{"no peer address", "192.0.2.1", "h", false, []string{"for=x"}, "203.0.113.66", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := httptest.NewRequest(http.MethodGet, "http://oo.example/svc/x", nil)
			in.RemoteAddr, in.Host = c.remote, c.host
			if c.tls {
				in.TLS = &tls.ConnectionState{}
			}
			if c.forwarded != nil {
				in.Header["Forwarded"] = c.forwarded
			}
			out := http.Header{}
			if c.realIP != "" {
				in.Header.Set("X-Real-Ip", c.realIP)
				out.Set("X-Real-Ip", c.realIP) // ReverseProxy copied it
			}
			setClientAddr(in, out)
			if got := out.Get("X-Real-Ip"); got != c.wantReal {
				t.Errorf("X-Real-Ip %q, want %q", got, c.wantReal)
			}
			if got := out["Forwarded"]; (c.wantFwd == "" && got != nil) || (c.wantFwd != "" && !slices.Equal(got, []string{c.wantFwd})) {
				t.Errorf("Forwarded %q, want %q", got, c.wantFwd)
			}
		})
	}
}
