package registry

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/egress"
	"github.com/ooctl/oo/server/egress/egresstest"
)

// Every spelling of one address is one target: another slug gets the 409 it would get for the
// canonical spelling, and the owner re-registering any spelling updates its one instance.
func TestCanonicalTargetOwnership(t *testing.T) {
	r, _ := newReg(t, Options{})
	own := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:29999"})
	for _, u := range []string{
		"http://localhost:29999",
		"http://LOCALHOST:29999/",
		"http://localhost.:29999",
		"http://[::ffff:127.0.0.1]:29999",
		"http://[::FFFF:7f00:1]:29999",
		"http://[0:0:0:0:0:ffff:127.0.0.1]:29999",
	} {
		_, err := r.Register(bob, api.RegisterInstanceRequest{URL: u})
		if apierr.Status(err) != http.StatusConflict || !strings.Contains(err.Error(), "alice-svc") {
			t.Errorf("bob registering %s: %v, want 409 naming the owner", u, err)
		}
		again, err := r.Register(alice, api.RegisterInstanceRequest{URL: u})
		if err != nil || again.ID != own.ID || again.URL != "http://127.0.0.1:29999" {
			t.Errorf("alice re-registering %s: %+v, %v; want her instance %s at the canonical URL", u, again, err, own.ID)
		}
	}
	if got := r.List(Filter{}); len(got) != 1 {
		t.Fatalf("%d instances, want 1: %+v", len(got), got)
	}
	// IPv6 is compressed to one spelling as well.
	register(t, r, alice, api.RegisterInstanceRequest{URL: "http://[::1]:29998"})
	if _, err := r.Register(bob, api.RegisterInstanceRequest{URL: "http://[0:0:0:0:0:0:0:1]:29998"}); apierr.Status(err) != http.StatusConflict {
		t.Errorf("uncompressed ::1: %v, want 409", err)
	}
}

func TestNumericHostsAre400(t *testing.T) {
	r, _ := newReg(t, Options{})
	// Resolvers disagree about these; accepting them would give one address two keys.
	for _, u := range []string{"http://2130706433:1", "http://0x7f.1:1", "http://127.1:1", "http://127.000.000.001:1", "http://0x7f000001:1"} {
		_, err := r.Register(alice, api.RegisterInstanceRequest{URL: u})
		if apierr.Status(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "dotted-quad") {
			t.Errorf("%s: %v, want 400 asking for a dotted quad", u, err)
		}
	}
}

func TestNormalizeIdempotent(t *testing.T) {
	for _, u := range []string{"http://LocalHost.:80/a/", "https://[::ffff:10.0.0.1]", "http://[FE80::1%25eth0]:1/x%2Fy", "http://Example.COM./p"} {
		once, err := NormalizeURL(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		twice, err := NormalizeURL(once)
		if err != nil || twice != once {
			t.Errorf("NormalizeURL(%q) = %q, but NormalizeURL of that = %q, %v", u, once, twice, err)
		}
	}
}

// The cloud metadata service and the rest of link-local space are refused at registration with
// a 403 that says why, in every spelling; nothing is stored, so nothing is ever probed.
func TestMetadataTargetsRefusedAtRegistration(t *testing.T) {
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "metadata.test" {
			return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	r, _ := newReg(t, Options{Targets: egress.New(nil, nil).WithLookup(lookup)})
	for _, u := range []string{
		"http://169.254.169.254/latest",
		"http://169.254.169.254:80/latest/meta-data/",
		"http://[::ffff:169.254.169.254]/latest",
		"http://[::ffff:a9fe:a9fe]/",
		"http://169.254.0.1:8080",
		"http://[fe80::1]:8080",
		"http://[fe80::1%25eth0]:8080",
		"http://[fd00:ec2::254]/",
		"http://metadata.test/computeMetadata/v1/",
	} {
		_, err := r.Register(alice, api.RegisterInstanceRequest{URL: u})
		if apierr.Status(err) != http.StatusForbidden || !strings.Contains(err.Error(), "target policy refuses") {
			t.Errorf("%s: %v, want 403 from the target policy", u, err)
		}
		// Admins are held to it too: the policy protects the machine, not other accounts.
		if _, err := r.Register(admin, api.RegisterInstanceRequest{URL: u}); apierr.Status(err) != http.StatusForbidden {
			t.Errorf("admin %s: %v, want 403", u, err)
		}
	}
	if got := r.List(Filter{}); len(got) != 0 {
		t.Fatalf("refused registrations left %d instances: %+v", len(got), got)
	}
	// A name that does not resolve yet is accepted: every dial is checked again.
	if _, err := r.Register(alice, api.RegisterInstanceRequest{URL: "http://later.test:1"}); err != nil {
		t.Fatalf("unresolvable name: %v", err)
	}
}

func TestAllowAndDenyTargetsAtRegistration(t *testing.T) {
	allow, _ := egress.ParseList("127.0.0.0/8,169.254.169.254")
	deny, _ := egress.ParseList("127.0.0.9")
	r, _ := newReg(t, Options{Targets: egress.New(allow, deny)})
	cases := map[string]int{
		"http://127.0.0.1:1":     0,
		"http://localhost:2":     0,
		"http://169.254.169.254": 0, // named explicitly
		"http://169.254.1.1":     http.StatusForbidden,
		"http://10.0.0.1:1":      http.StatusForbidden, // not on the allow list
		"http://[::1]:1":         http.StatusForbidden,
		"http://127.0.0.9:1":     http.StatusForbidden, // deny wins
	}
	for u, want := range cases {
		_, err := r.Register(admin, api.RegisterInstanceRequest{URL: u})
		if got := map[bool]int{true: 0, false: apierr.Status(err)}[err == nil]; got != want {
			t.Errorf("%s: %v, want status %d", u, err, want)
		}
	}
}

// A name that resolved to an allowed address at registration and to a refused one later is
// refused when probed: the probe never connects, and the instance is not routable.
func TestProbeChecksPolicyAtDialTime(t *testing.T) {
	port, accepted := egresstest.CountingListener(t, "127.0.0.2:0")
	flip := &egresstest.Rebinding{Before: netip.MustParseAddr("127.0.0.1"), After: netip.MustParseAddr("127.0.0.2")}
	deny, _ := egress.ParseList("127.0.0.2")
	r, _ := newReg(t, Options{ProbeInterval: 50 * time.Millisecond, Targets: egress.New(nil, deny).WithLookup(flip.Lookup)})
	run(t, r)
	inst := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://flip.test:" + port})
	flip.Rebind()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := r.Get(inst.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == api.StatusUnreachable && strings.Contains(got.Details, "target policy refuses") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %+v: not Unreachable by the target policy within 10s", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the refused address accepted %d probe connections", n)
	}
	if r.Table().Lookup("alice-svc").Routable() {
		t.Fatal("an instance refused by the policy is routable")
	}
}
