package api

import (
	"net/url"
	"testing"
)

func TestSameInstanceURL(t *testing.T) {
	for _, u := range []string{"http://localhost:8080", "http://localhost:8080/", "HTTP://LocalHost:8080/",
		"http://127.0.0.1:8080", "http://[::ffff:127.0.0.1]:8080", "http://localhost.:8080"} {
		if !SameInstanceURL(u, "http://localhost:8080") {
			t.Errorf("%q differs from http://localhost:8080", u)
		}
	}
	if !SameInstanceURL("http://h", "http://h:80/") || !SameInstanceURL("https://h/", "https://h:443") {
		t.Error("default ports are not implied")
	}
	if SameInstanceURL("http://h:81", "http://h:80") || SameInstanceURL("http://h/a", "http://h/b") {
		t.Error("different addresses compare equal")
	}
}

func TestPortOf(t *testing.T) {
	for raw, want := range map[string]string{
		"http://a":         "80",
		"HTTPS://a/":       "443",
		"http://a:8080/x":  "8080",
		"https://[::1]:99": "99",
		"ftp://a":          "",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := PortOf(u); got != want {
			t.Errorf("PortOf(%s) = %q, want %q", raw, got, want)
		}
	}
}

// PathSlug is the proxy's routing rule and FirstSegment's: both see the same segment.
func TestPathSlug(t *testing.T) {
	for path, want := range map[string]string{"/echo/x/y": "echo", "/echo": "echo", "/": "", "": "", "echo/x": "echo", "//x": "", "/user-svc/login": "user-svc"} {
		if got := PathSlug(path); got != want {
			t.Errorf("PathSlug(%q) = %q, want %q", path, got, want)
		}
		if seg, _ := FirstSegment(path); seg != want {
			t.Errorf("FirstSegment(%q) = %q, want %q", path, seg, want)
		}
	}
}
