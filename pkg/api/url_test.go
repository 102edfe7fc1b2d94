package api

import "testing"

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
