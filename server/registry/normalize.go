package registry

import (
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/ooctl/oo/server/apierr"
)

// parsedURL is an instance URL in canonical form plus the parts routing and probing need.
type parsedURL struct {
	Canonical string // scheme://host:port[/path], the registry's identity of an instance
	Scheme    string
	Hostname  string // without port or IPv6 brackets
	Port      int
	HostPort  string // what to dial
	Path      string // escaped, no trailing slash
}

// NormalizeURL returns raw in canonical form: scheme and host lowercased, the default port made
// explicit, a trailing slash dropped. Two spellings of one address must compare equal, or
// ownership could be sidestepped by writing HTTP://LocalHost:80/ instead of http://localhost.
func NormalizeURL(raw string) (string, error) {
	p, err := parseInstanceURL(raw)
	if err != nil {
		return "", err
	}
	return p.Canonical, nil
}

func parseInstanceURL(raw string) (parsedURL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return parsedURL{}, apierr.BadRequest("url is required, e.g. http://127.0.0.1:9311")
	}
	if !strings.Contains(raw, "://") {
		return parsedURL{}, apierr.BadRequest("url %q has no scheme; write it as http://host:port", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return parsedURL{}, apierr.BadRequest("url %q is not a valid URL: %s", raw, unwrapURLErr(err))
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "" {
		return parsedURL{}, apierr.BadRequest("url %q has no scheme; write it as http://host:port", raw)
	}
	var defPort int
	switch scheme {
	case "http":
		defPort = 80
	case "https":
		defPort = 443
	default:
		return parsedURL{}, apierr.BadRequest("url %q: scheme must be http or https, not %q", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return parsedURL{}, apierr.BadRequest("url %q has no host", raw)
	}
	if u.User != nil {
		return parsedURL{}, apierr.BadRequest("url %q must not carry credentials; they would be listed to every user", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return parsedURL{}, apierr.BadRequest("url %q must not have a query or fragment", raw)
	}
	port := defPort
	if ps := u.Port(); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			return parsedURL{}, apierr.BadRequest("url %q: port %q is not in 1-65535", raw, ps)
		}
		port = n
	}
	host := strings.ToLower(u.Hostname())
	hostPort := net.JoinHostPort(host, strconv.Itoa(port))
	path := strings.TrimRight(u.EscapedPath(), "/")
	return parsedURL{
		Canonical: scheme + "://" + hostPort + path,
		Scheme:    scheme,
		Hostname:  host,
		Port:      port,
		HostPort:  hostPort,
		Path:      path,
	}, nil
}

func unwrapURLErr(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return err.Error()
}
