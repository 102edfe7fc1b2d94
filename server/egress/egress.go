// Package egress decides which addresses the server may connect to on a client's behalf. Any
// account may register an instance URL, and the prober and the proxy then connect to it, so
// without a policy the server is a pivot into whatever it can reach: the cloud metadata
// service above all, which hands out the machine's credentials to a plain GET.
//
// The policy is checked twice: when an instance is registered (its IP literal, or every address
// its name resolves to), and on every connection the prober and the proxy make (the address
// actually dialed), because a name may resolve elsewhere later.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Builtin lists what is refused unless an operator allows it explicitly: link-local addresses
// (where cloud metadata services live) and the metadata addresses outside link-local space.
var Builtin = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),     // IPv4 link-local; metadata at 169.254.169.254 (AWS, GCP, Azure, OCI, ...)
	netip.MustParsePrefix("fe80::/10"),          // IPv6 link-local
	netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS metadata over IPv6
	netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud metadata
}

// nat64 is the well-known NAT64 prefix (RFC 6052): its addresses carry an IPv4 address.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Policy is the set of addresses the server may connect to. The zero value and nil refuse only
// Builtin. It is immutable and safe for concurrent use.
//
// Precedence, first match wins:
//  1. an address on the deny list is refused;
//  2. an address on the allow list is allowed, except that a Builtin address is allowed only by
//     an allow entry inside that Builtin range (so 0.0.0.0/0 does not open the metadata
//     service, 169.254.0.0/16 does);
//  3. a Builtin address is refused;
//  4. with an allow list, anything not on it is refused; without one, it is allowed.
//
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are matched as the IPv4 address they carry; a
// NAT64 address (64:ff9b::a.b.c.d) must pass both as itself and as the IPv4 address it carries.
type Policy struct {
	allow, deny []netip.Prefix
	// lookup resolves a name at registration and dial time; net.DefaultResolver unless a test
	// replaces it.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// New returns a policy with the given allow and deny lists (either may be empty).
func New(allow, deny []netip.Prefix) *Policy {
	return &Policy{allow: unmapAll(allow), deny: unmapAll(deny)}
}

// WithLookup returns a copy of p that resolves names with lookup instead of the system
// resolver: tests use it to make a name resolve where they want without any network.
func (p *Policy) WithLookup(lookup func(ctx context.Context, host string) ([]netip.Addr, error)) *Policy {
	q := *p.orDefault()
	q.lookup = lookup
	return &q
}

var zero Policy

func (p *Policy) orDefault() *Policy {
	if p == nil {
		return &zero
	}
	return p
}

// Narrowed reports whether the operator restricted targets beyond the built-in refusals with
// an allow list.
func (p *Policy) Narrowed() bool { return p != nil && len(p.allow) > 0 }

// String describes the policy for logs.
func (p *Policy) String() string {
	p = p.orDefault()
	return fmt.Sprintf("allow=%s deny=%s builtin-deny=%s", join(p.allow), join(p.deny), join(Builtin))
}

func join(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "-"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// RefusedError says why the policy refuses an address.
type RefusedError struct {
	Addr   netip.Addr
	Host   string // the name that resolved to Addr, when there was one
	Reason string
}

func (e *RefusedError) Error() string {
	what := e.Addr.String()
	if e.Host != "" && e.Host != what {
		what = e.Host + " (" + what + ")"
	}
	return "the server's target policy refuses " + what + ": " + e.Reason
}

// Check returns a *RefusedError when the policy refuses addr, nil when it allows it.
func (p *Policy) Check(addr netip.Addr) error {
	p = p.orDefault()
	a := addr.Unmap().WithZone("")
	if nat64.Contains(a) {
		// On a network with a NAT64 gateway, 64:ff9b::a9fe:a9fe reaches 169.254.169.254: the
		// address it carries must pass too.
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:]))
		if err := p.Check(v4); err != nil {
			re := err.(*RefusedError)
			re.Addr, re.Reason = a, "it is NAT64 for "+v4.String()+", and "+re.Reason
			return re
		}
	}
	if pf, ok := match(p.deny, a); ok {
		return &RefusedError{Addr: a, Reason: "it is on --deny-targets " + pf.String()}
	}
	builtin, inBuiltin := match(Builtin, a)
	for _, pf := range p.allow {
		if pf.Contains(a) && (!inBuiltin || pf.Bits() >= builtin.Bits() && builtin.Contains(pf.Addr())) {
			return nil
		}
	}
	if inBuiltin {
		return &RefusedError{Addr: a, Reason: "link-local and cloud metadata addresses (" + builtin.String() +
			") are refused unless an operator names them in --allow-targets"}
	}
	if len(p.allow) > 0 {
		return &RefusedError{Addr: a, Reason: "it is not on --allow-targets " + join(p.allow)}
	}
	return nil
}

func match(ps []netip.Prefix, a netip.Addr) (netip.Prefix, bool) {
	for _, pf := range ps {
		if pf.Contains(a) {
			return pf, true
		}
	}
	return netip.Prefix{}, false
}

// CheckHost checks every address host (an IP literal or a DNS name) stands for, resolving a name
// with a bound of timeout. A name that does not resolve is not refused: it may resolve later,
// and every dial is checked again. Errors other than a *RefusedError are not returned.
func (p *Policy) CheckHost(ctx context.Context, host string, timeout time.Duration) error {
	p = p.orDefault()
	if a, err := netip.ParseAddr(host); err == nil {
		return p.Check(a)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addrs, err := p.resolve(ctx, host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := p.Check(a); err != nil {
			err.(*RefusedError).Host = host
			return err
		}
	}
	return nil
}

func (p *Policy) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if p.lookup != nil {
		return p.lookup(ctx, host)
	}
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// DialFunc is the signature of net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dialer returns a DialContext for d that connects only to addresses the policy allows. A name
// is resolved here, its refused addresses dropped, and the rest tried in order; d's Control
// then checks the address of each socket again just before it connects, whatever dialed it.
// A refusal is a *net.OpError with Op "dial" wrapping a *RefusedError, so callers that treat
// dial errors as "the backend saw nothing" stay right: nothing was sent.
func (p *Policy) Dialer(d net.Dialer) DialFunc {
	p = p.orDefault()
	inner := d.Control
	d.Control = func(network, address string, c syscall.RawConn) error {
		if ap, err := netip.ParseAddrPort(address); err == nil {
			if err := p.Check(ap.Addr()); err != nil {
				return err
			}
		}
		if inner != nil {
			return inner(network, address, c)
		}
		return nil
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if a, err := netip.ParseAddr(host); err == nil {
			if err := p.Check(a); err != nil {
				return nil, refused(network, addr, err)
			}
			return d.DialContext(ctx, network, addr)
		}
		addrs, err := p.resolve(ctx, host)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		var firstRefusal, lastErr error
		for _, a := range addrs {
			if err := p.Check(a); err != nil {
				err.(*RefusedError).Host = host
				firstRefusal = cmpOr(firstRefusal, err)
				continue
			}
			conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return conn, nil
			}
			lastErr = err
			if ctx.Err() != nil {
				break
			}
		}
		if lastErr != nil {
			return nil, lastErr
		}
		if firstRefusal != nil {
			return nil, refused(network, addr, firstRefusal)
		}
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}}
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func refused(network, addr string, err error) error {
	return &net.OpError{Op: "dial", Net: network, Addr: stringAddr{network, addr}, Err: err}
}

type stringAddr struct{ net, addr string }

func (a stringAddr) Network() string { return a.net }
func (a stringAddr) String() string  { return a.addr }

// IsRefused reports whether err is, or wraps, a refusal by a policy.
func IsRefused(err error) bool {
	var re *RefusedError
	return errors.As(err, &re)
}

// ParseList parses a comma-separated list of CIDR prefixes or single addresses
// ("10.0.0.0/8,127.0.0.1,fd00::/8"), as the --allow-targets and --deny-targets flags take.
func ParseList(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			pf, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR prefix such as 10.0.0.0/8", f)
			}
			if pf.Masked() != pf {
				return nil, fmt.Errorf("%q has host bits set; did you mean %s?", f, pf.Masked())
			}
			out = append(out, pf)
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not an IP address or a CIDR prefix such as 10.0.0.0/8", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// unmapAll rewrites ::ffff:a.b.c.d/n (n >= 96) as a.b.c.d/(n-96), the form addresses are
// matched in.
func unmapAll(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, pf := range ps {
		if a := pf.Addr(); a.Is4In6() && pf.Bits() >= 96 {
			pf = netip.PrefixFrom(a.Unmap(), pf.Bits()-96)
		}
		out = append(out, pf)
	}
	return out
}
