package api

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// TargetURL is an instance URL in canonical form plus the parts routing and probing need.
//
// Canonical is the registry's identity of an instance, so every spelling of one address must
// give the same Canonical, or ownership could be sidestepped: scheme and host lowercased, the
// default port made explicit, a trailing slash dropped, an IP address in its one canonical
// text form (an IPv4-mapped IPv6 address such as ::ffff:127.0.0.1 becomes 127.0.0.1, IPv6 is
// compressed), the name "localhost" written as 127.0.0.1, and a trailing dot of a fully
// qualified name dropped. Canonicalization is purely textual: no name is ever resolved.
type TargetURL struct {
	Canonical string
	Scheme    string // http or https
	Hostname  string // as written, lowercased, trailing dot dropped; no brackets
	Host      string // canonical host, dialed: an IP address or a lowercased DNS name
	IP        netip.Addr
	Port      int
	HostPort  string // Host and Port joined, what the proxy and the prober dial
	Path      string // escaped, no trailing slash
}

// ParseTargetURL validates raw as an instance URL and returns its canonical form. Its errors
// are messages for the client that sent raw.
func ParseTargetURL(raw string) (TargetURL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return TargetURL{}, errors.New("url is required, e.g. http://127.0.0.1:9311")
	}
	if !strings.Contains(raw, "://") {
		return TargetURL{}, fmt.Errorf("url %q has no scheme; write it as http://host:port", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return TargetURL{}, fmt.Errorf("url %q is not a valid URL: %s", raw, err)
	}
	scheme := strings.ToLower(u.Scheme)
	var defPort int
	switch scheme {
	case "http":
		defPort = 80
	case "https":
		defPort = 443
	case "":
		return TargetURL{}, fmt.Errorf("url %q has no scheme; write it as http://host:port", raw)
	default:
		return TargetURL{}, fmt.Errorf("url %q: scheme must be http or https, not %q", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return TargetURL{}, fmt.Errorf("url %q has no host", raw)
	}
	if u.User != nil {
		return TargetURL{}, fmt.Errorf("url %q must not carry credentials; they would be listed to every user", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return TargetURL{}, fmt.Errorf("url %q must not have a query or fragment", raw)
	}
	port := defPort
	if ps := u.Port(); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			return TargetURL{}, fmt.Errorf("url %q: port %q is not in 1-65535", raw, ps)
		}
		port = n
	}
	name := strings.ToLower(u.Hostname())
	if len(name) > 1 && strings.HasSuffix(name, ".") {
		name = name[:len(name)-1] // the fully qualified spelling of the same name
	}
	host, ip, err := canonicalHost(name)
	if err != nil {
		return TargetURL{}, fmt.Errorf("url %q: %s", raw, err)
	}
	hostPort := net.JoinHostPort(host, strconv.Itoa(port))
	path := strings.TrimRight(u.EscapedPath(), "/")
	// In a URL an IPv6 zone's '%' is written %25; hostPort is for dialing and keeps it bare.
	urlHostPort := strings.Replace(hostPort, "%", "%25", 1)
	return TargetURL{
		Canonical: scheme + "://" + urlHostPort + path,
		Scheme:    scheme,
		Hostname:  name,
		Host:      host,
		IP:        ip,
		Port:      port,
		HostPort:  hostPort,
		Path:      path,
	}, nil
}

// canonicalHost returns the one spelling of a lowercased host name or IP literal, and the
// address when it is one.
func canonicalHost(name string) (string, netip.Addr, error) {
	if name == "localhost" {
		// The name every resolver maps to loopback; as a name it would be a second key for
		// 127.0.0.1. A service listening only on ::1 registers http://[::1]:PORT.
		name = "127.0.0.1"
	}
	if ip, err := netip.ParseAddr(name); err == nil {
		// Unmap: ::ffff:127.0.0.1 is dialed as 127.0.0.1 and must be owned as 127.0.0.1.
		ip = ip.Unmap()
		if ip.Zone() != "" && !ip.Is6() {
			ip = ip.WithZone("")
		}
		return ip.String(), ip, nil
	}
	if numericName(name) {
		// 2130706433, 0x7f.1, 127.1, 127.000.000.001: some resolvers read these as IPv4 and
		// some do not, so one URL could be two addresses. Only the dotted quad is accepted.
		return "", netip.Addr{}, fmt.Errorf("host %q looks like an IPv4 address but is not one in dotted-quad form (like 127.0.0.1)", name)
	}
	// An empty label ("a..b", ".a", or "a.." once one trailing dot is dropped) makes no DNS
	// name, and "0.." would give the key http://0.:80, which itself does not parse.
	if strings.ContainsAny(name, "%[]") || strings.Contains("."+name+".", "..") {
		return "", netip.Addr{}, fmt.Errorf("host %q is not a valid IP address or DNS name", name)
	}
	return name, netip.Addr{}, nil
}

// numericName reports whether a host name's last label is a number (decimal, or hex with 0x):
// no top-level domain is, so such a name is an attempt at an IPv4 address.
func numericName(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") {
		return true
	}
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
