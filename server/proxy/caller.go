package proxy

import (
	"net"
	"net/http"
	"strings"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/auth"
)

// setCaller removes every header in the api.CallerHeaderPrefix family the client sent and, when
// the request carries a bearer token the server accepts, adds the verified identity. A request
// without a token pays one pass over its header names. It returns the caller's slug, "" for none.
func (p *Proxy) setCaller(in *http.Request, out http.Header) string {
	for k := range out {
		if ownsHeader(k) {
			delete(out, k)
		}
	}
	if p.identity == nil {
		return ""
	}
	h := in.Header["Authorization"]
	if len(h) == 0 {
		return ""
	}
	tok := auth.BearerToken(h[0])
	if tok == "" {
		return ""
	}
	who, err := p.identity.Authenticate(tok)
	if err != nil {
		return "" // the service sees the token and no identity, and decides
	}
	v := make([]string, 3)
	v[0], v[1], v[2] = who.Slug, who.UserID, strings.Join(who.Roles, ",")
	out[api.HeaderCallerSlug] = v[0:1:1]
	out[api.HeaderCallerUserID] = v[1:2:2]
	out[api.HeaderCallerRoles] = v[2:3:3]
	return who.Slug
}

// ownsHeader reports whether a header name is in the caller family: case-insensitive, with '_'
// read as '-' (CGI, WSGI and some proxies fold X_Oo_Caller_Slug into X-Oo-Caller-Slug).
func ownsHeader(name string) bool {
	const prefix = api.CallerHeaderPrefix
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := name[i]
		if c == '_' {
			c = '-'
		}
		if lower(c) != lower(prefix[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// setClientAddr makes X-Real-Ip and Forwarded agree with X-Forwarded-For: X-Real-Ip is the
// address that connected to oo (a client's own is replaced, as X-Forwarded-Host is), and
// Forwarded is the client's chain with oo's element appended (as X-Forwarded-For is).
// ReverseProxy has already removed the client's Forwarded from out. Without a peer address,
// neither is sent, as X-Forwarded-For is not.
func setClientAddr(in *http.Request, out http.Header) {
	ip, _, err := net.SplitHostPort(in.RemoteAddr)
	if err != nil {
		delete(out, "X-Real-Ip")
		return
	}
	el := forwardedElement(ip, in.Host, in.TLS != nil)
	if prior := in.Header["Forwarded"]; len(prior) > 0 {
		el = strings.Join(prior, ", ") + ", " + el
	}
	// One backing array for both values, each capped so an Add reallocates (as setXForwarded).
	v := &[2]string{ip, el}
	out["X-Real-Ip"] = v[0:1:1]
	out["Forwarded"] = v[1:2:2]
}

// forwardedElement is one RFC 7239 element: for=, host= and proto= of this hop.
func forwardedElement(ip, host string, tls bool) string {
	var b strings.Builder
	b.Grow(len(ip) + len(host) + 32)
	b.WriteString("for=")
	if strings.Contains(ip, ":") {
		// An IPv6 node must be quoted (RFC 7239 §6), and its zone (an interface name) may
		// hold a quote itself.
		quoted(&b, "["+ip+"]")
	} else {
		b.WriteString(ip)
	}
	b.WriteString(";host=")
	quoted(&b, host)
	b.WriteString(";proto=")
	if tls {
		b.WriteString("https")
	} else {
		b.WriteString("http")
	}
	return b.String()
}

// quoted writes s as an RFC 9110 quoted-string; a Host value may hold ':' and so is not a token.
func quoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}
