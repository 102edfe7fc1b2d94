package registry

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/egress"
	"github.com/ooctl/oo/server/store/bolt"
)

// upperASCII uppercases a-z only: scheme and host are ASCII case-insensitive, and Unicode case
// mapping is not an equivalence a resolver knows.
func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// spellings are other ways of writing the target p (parsed from raw) that must give the same
// ownership key: case, the default port, a trailing slash, surrounding space, and for
// addresses the other textual forms of the same address (localhost, IPv4-mapped IPv6, IPv6
// not compressed), for names the fully qualified form with a trailing dot.
func spellings(raw string, p api.TargetURL) []string {
	authority := strings.TrimSuffix(strings.TrimPrefix(p.Canonical, p.Scheme+"://"), p.Path)
	out := []string{
		upperASCII(p.Scheme) + "://" + upperASCII(authority) + p.Path,
		p.Canonical + "/",
		" \t" + p.Canonical + "\n",
	}
	if i := strings.Index(raw, "://"); i > 0 {
		out = append(out, upperASCII(raw[:i])+raw[i:])
	}
	if p.Port == map[string]int{"http": 80, "https": 443}[p.Scheme] {
		out = append(out, p.Scheme+"://"+strings.TrimSuffix(authority, ":"+strconv.Itoa(p.Port))+p.Path)
	}
	port := ":" + strconv.Itoa(p.Port)
	with := func(host string) string { return p.Scheme + "://" + host + port + p.Path }
	switch {
	case p.IP.Is4():
		out = append(out, with("[::ffff:"+p.Host+"]"), with("[0:0:0:0:0:ffff:"+p.Host+"]"))
		if p.Host == "127.0.0.1" {
			out = append(out, with("localhost"), with("LOCALHOST."))
		}
	case p.IP.Is6() && p.IP.Zone() == "":
		out = append(out, with("["+p.IP.StringExpanded()+"]"), with("["+upperASCII(p.IP.StringExpanded())+"]"))
	case !p.IP.IsValid():
		out = append(out, with(p.Host+"."))
	}
	return out
}

// FuzzNormalizeURL: any string is either refused with a 400 or turned into a canonical target
// that is a fixed point (parsing it again gives the same target), is well formed (http or
// https, explicit port in range, no credentials, query, fragment or trailing slash, an address
// in its one text form), and is what every other spelling of the same target gives.
func FuzzNormalizeURL(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := parseInstanceURL(raw)
		if err != nil {
			if apierr.Status(err) != 400 {
				t.Fatalf("parseInstanceURL(%q): %v is HTTP %d, want 400", raw, err, apierr.Status(err))
			}
			return
		}
		again, err := parseInstanceURL(p.Canonical)
		again.Hostname = p.Hostname // the spelling as written, not part of the identity
		if err != nil || again != p {
			t.Fatalf("canonical form of %q is not a fixed point:\n first  %+v\n second %+v (%v)", raw, p, again, err)
		}
		if p.Scheme != "http" && p.Scheme != "https" {
			t.Fatalf("%q: scheme %q", raw, p.Scheme)
		}
		if p.Port < 1 || p.Port > 65535 || p.HostPort != net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) {
			t.Fatalf("%q: port %d, host:port %q", raw, p.Port, p.HostPort)
		}
		if p.IP.IsValid() && (p.IP.Is4In6() || p.Host != p.IP.String()) {
			t.Fatalf("%q: address %v written %q", raw, p.IP, p.Host)
		}
		authority := strings.TrimSuffix(strings.TrimPrefix(p.Canonical, p.Scheme+"://"), p.Path)
		if strings.HasSuffix(p.Path, "/") || strings.ContainsAny(p.Canonical, "?#") || strings.ContainsAny(authority, "@/") {
			t.Fatalf("%q: canonical %q, path %q", raw, p.Canonical, p.Path)
		}
		for _, other := range spellings(raw, p) {
			got, err := NormalizeURL(other)
			if err != nil || got != p.Canonical {
				t.Fatalf("%q normalises to %q, but its spelling %q to %q (%v)", raw, p.Canonical, other, got, err)
			}
		}
	})
}

// fuzzRegistry is a registry on a real bbolt file, probing off, with the default target policy
// whose name lookups fail the test: the fuzz inputs are addresses, and nothing may go out.
func fuzzRegistry(f *testing.F) (*Registry, *atomic.Int64) {
	st, err := bolt.Open(filepath.Join(f.TempDir(), "oo.db"), bolt.Options{})
	if err != nil {
		f.Fatal(err)
	}
	lookups := new(atomic.Int64)
	policy := egress.New(nil, nil).WithLookup(func(ctx context.Context, host string) ([]netip.Addr, error) {
		lookups.Add(1)
		return nil, &net.DNSError{Err: "no lookups in this test", Name: host, IsNotFound: true}
	})
	r, err := New(st, Options{ProbeInterval: -1, Targets: policy})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { r.Close(); st.Close() })
	return r, lookups
}

// fuzzTargetURL builds an instance URL whose host is an IP literal (4 or 16 bytes of ip) or
// localhost.
func fuzzTargetURL(scheme string, ip []byte, port uint16, path string) string {
	host := "localhost"
	switch len(ip) {
	case net.IPv4len:
		host = net.IP(ip).String()
	case net.IPv6len:
		host = "[" + netip.AddrFrom16([16]byte(ip)).String() + "]"
	}
	if port != 0 {
		host += ":" + strconv.Itoa(int(port))
	}
	return scheme + "://" + host + "/" + strings.TrimPrefix(path, "/")
}

// FuzzOwnershipKey: once one slug registered a target, no other spelling of it lets another
// (non-admin) slug register it too: each is a 409 and adds no instance. An address the default
// policy refuses (link-local, cloud metadata) is a 403 in every spelling. No name is resolved.
func FuzzOwnershipKey(f *testing.F) {
	r, lookups := fuzzRegistry(f)
	f.Fuzz(func(t *testing.T, scheme string, ip []byte, port uint16, path string) {
		raw := fuzzTargetURL(scheme, ip, port, path)
		p, err := api.ParseTargetURL(raw)
		if err != nil || !p.IP.IsValid() {
			return // not a target, or a name (a path could make one): names would be looked up
		}
		refused := slices.ContainsFunc(egress.Builtin, func(b netip.Prefix) bool { return b.Contains(p.IP.WithZone("")) })
		inst, err := r.Register(alice, api.RegisterInstanceRequest{URL: raw})
		if refused {
			for _, other := range append(spellings(raw, p), raw) {
				if _, err := r.Register(alice, api.RegisterInstanceRequest{URL: other}); apierr.Status(err) != 403 {
					t.Fatalf("%q is a metadata/link-local address; registering %q got %v, want 403", raw, other, err)
				}
			}
			return
		}
		if err != nil {
			t.Fatalf("Register(%q): %v (HTTP %d)", raw, err, apierr.Status(err))
		}
		defer func() {
			if err := r.Delete(alice, inst.ID); err != nil {
				t.Fatalf("Delete %s: %v", inst.ID, err)
			}
		}()
		n := len(r.List(Filter{}))
		for _, other := range spellings(raw, p) {
			if _, err := r.Register(bob, api.RegisterInstanceRequest{URL: other}); apierr.Status(err) != 409 {
				t.Fatalf("alice registered %q; bob registering %q got %v (HTTP %d), want 409", raw, other, err, apierr.Status(err))
			}
		}
		if got := len(r.List(Filter{})); got != n {
			t.Fatalf("refused registrations changed the instance count from %d to %d", n, got)
		}
		if n := lookups.Load(); n != 0 {
			t.Fatalf("%d name lookups for address targets", n)
		}
	})
}
