package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/server/egress/egresstest"
)

func prefixes(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	ps, err := ParseList(s)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestPrecedence(t *testing.T) {
	cases := []struct {
		allow, deny string
		addr        string
		refused     bool
		reason      string
	}{
		// Default: only the built-in ranges are refused, in every spelling.
		{"", "", "127.0.0.1", false, ""},
		{"", "", "10.1.2.3", false, ""},
		{"", "", "::1", false, ""},
		{"", "", "169.254.169.254", true, "metadata"},
		{"", "", "169.254.0.1", true, "metadata"},
		{"", "", "::ffff:169.254.169.254", true, "metadata"},
		{"", "", "fe80::1", true, "metadata"},
		{"", "", "fe80::1%eth0", true, "metadata"},
		{"", "", "fd00:ec2::254", true, "metadata"},
		{"", "", "100.100.100.200", true, "metadata"},
		{"", "", "64:ff9b::169.254.169.254", true, "metadata"},
		{"", "", "64:ff9b::127.0.0.1", false, ""},
		{"", "10.0.0.0/8", "64:ff9b::10.1.2.3", true, "--deny-targets 10.0.0.0/8"},
		{"64:ff9b::/96", "", "64:ff9b::10.1.2.3", true, "not on --allow-targets"},
		{"64:ff9b::/96,10.0.0.0/8", "", "64:ff9b::10.1.2.3", false, ""},
		// An allow list is the only space allowed.
		{"10.0.0.0/8,127.0.0.0/8", "", "127.0.0.1", false, ""},
		{"10.0.0.0/8,127.0.0.0/8", "", "::ffff:10.0.0.1", false, ""},
		{"10.0.0.0/8,127.0.0.0/8", "", "192.168.1.1", true, "not on --allow-targets"},
		{"10.0.0.0/8,127.0.0.0/8", "", "::1", true, "not on --allow-targets"},
		// A broad allow entry does not open the built-in ranges; one inside them does.
		{"0.0.0.0/0", "", "169.254.169.254", true, "metadata"},
		{"::/0", "", "fe80::1", true, "metadata"},
		{"169.254.0.0/16", "", "169.254.169.254", false, ""},
		{"169.254.169.254", "", "169.254.169.254", false, ""},
		{"169.254.169.254", "", "169.254.169.253", true, "metadata"},
		// The deny list wins over everything.
		{"127.0.0.0/8", "127.0.0.2", "127.0.0.2", true, "--deny-targets 127.0.0.2/32"},
		{"127.0.0.0/8", "127.0.0.2", "127.0.0.1", false, ""},
		{"169.254.0.0/16", "169.254.169.254/32", "169.254.169.254", true, "--deny-targets"},
		{"", "::ffff:10.0.0.0/104", "10.9.9.9", true, "--deny-targets 10.0.0.0/8"},
		{"", "10.0.0.0/8", "::ffff:10.9.9.9", true, "--deny-targets"},
	}
	for _, c := range cases {
		p := New(prefixes(t, c.allow), prefixes(t, c.deny))
		err := p.Check(netip.MustParseAddr(c.addr))
		if (err != nil) != c.refused {
			t.Errorf("allow=%q deny=%q %s: err %v, want refused=%v", c.allow, c.deny, c.addr, err, c.refused)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), c.reason) {
			t.Errorf("allow=%q deny=%q %s: %q does not say %q", c.allow, c.deny, c.addr, err, c.reason)
		}
	}
	// nil is the default policy.
	var nilPolicy *Policy
	if nilPolicy.Check(netip.MustParseAddr("169.254.169.254")) == nil || nilPolicy.Check(netip.MustParseAddr("127.0.0.1")) != nil {
		t.Error("a nil policy must refuse exactly the built-in ranges")
	}
}

func TestParseList(t *testing.T) {
	got, err := ParseList(" 10.0.0.0/8, 127.0.0.1 ,fd00::/8,,")
	if err != nil || len(got) != 3 || got[1] != netip.MustParsePrefix("127.0.0.1/32") {
		t.Fatalf("ParseList = %v, %v", got, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "10.0.0.1/8", "example.com", "10.0.0", "fe80::1%eth0"} {
		if _, err := ParseList(bad); err == nil {
			t.Errorf("ParseList(%q) accepted", bad)
		}
	}
}

func TestCheckHostResolvesNames(t *testing.T) {
	meta := netip.MustParseAddr("169.254.169.254")
	p := New(nil, nil).WithLookup((&egresstest.Rebinding{Before: meta, After: meta}).Lookup)
	err := p.CheckHost(context.Background(), "metadata.test", time.Second)
	var re *RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "metadata.test (169.254.169.254)") {
		t.Fatalf("CheckHost of a name resolving to metadata: %v", err)
	}
	// A name that does not resolve is not refused: the dial is checked again.
	p = p.WithLookup(func(context.Context, string) ([]netip.Addr, error) { return nil, errors.New("no such host") })
	if err := p.CheckHost(context.Background(), "nowhere.test", time.Second); err != nil {
		t.Fatalf("unresolvable name: %v", err)
	}
}

// The dialer refuses an address the name resolves to at dial time, before any connect: the
// listener on that address sees nothing.
func TestDialerRefusesRebound(t *testing.T) {
	port, accepted := egresstest.CountingListener(t, "127.0.0.2:0")
	flip := &egresstest.Rebinding{Before: netip.MustParseAddr("127.0.0.1"), After: netip.MustParseAddr("127.0.0.2")}
	p := New(nil, prefixes(t, "127.0.0.2")).WithLookup(flip.Lookup)
	if err := p.CheckHost(context.Background(), "flip.test", time.Second); err != nil {
		t.Fatalf("at registration flip.test is 127.0.0.1: %v", err)
	}
	flip.Rebind()
	_, err := p.Dialer(net.Dialer{Timeout: time.Second})(context.Background(), "tcp", net.JoinHostPort("flip.test", port))
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" || !IsRefused(err) {
		t.Fatalf("dial of a name now resolving to a denied address: %v (want a dial OpError wrapping a refusal)", err)
	}
	// The literal is refused too.
	if _, err := p.Dialer(net.Dialer{})(context.Background(), "tcp", "127.0.0.2:"+port); !IsRefused(err) {
		t.Fatalf("dial of the denied literal: %v", err)
	}
	// The same dialer reaches the address once it is not denied, so the refusal above is the
	// policy's doing and not a broken listener.
	allowed := New(nil, nil)
	c, err := allowed.Dialer(net.Dialer{Timeout: time.Second})(context.Background(), "tcp", "127.0.0.2:"+port)
	if err != nil {
		t.Fatalf("allowed dial: %v", err)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for accepted.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("listener accepted %d connections, want exactly the allowed one", n)
	}
}
