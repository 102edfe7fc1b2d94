package service

import (
	"bytes"
	"sync"
	"testing"
)

func TestSlugFromCommand(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"./mysvc"}, "mysvc"},
		{[]string{"/opt/bin/Skeleton_Svc.exe"}, "skeleton-svc"},
		{[]string{"python3", "-u", "app.py"}, "app"},
		{[]string{"go", "run", "./cmd/hello-svc/"}, "hello-svc"},
		{[]string{"node", "server.js", "--port", "1"}, "server"},
		{[]string{"__"}, ""},
		{[]string{"sleep", "1"}, "sleep"},
		{[]string{"./go-svc"}, "go-svc"},
		{[]string{"/usr/bin/python3.11"}, ""},
		{[]string{"/usr/bin/python3.11", "srv/app.py"}, "app"},
		{[]string{"python3", "-m", "http.server"}, ""},
		{[]string{"npm", "start"}, ""},
		{[]string{"java", "-jar", "build/api.jar"}, "api"},
	} {
		if got := SlugFromCommand(c.argv); got != c.want {
			t.Errorf("SlugFromCommand(%q) = %q, want %q", c.argv, got, c.want)
		}
	}
}

func TestPrefixWriterWholeLines(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	w := &prefixWriter{mu: &mu, w: &out, prefix: "[a-1] "}
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\nthree"))
	w.Flush()
	if got, want := out.String(), "[a-1] one\n[a-1] two\n[a-1] three\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
