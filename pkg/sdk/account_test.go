package sdk

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFileStoreIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "oo", "services")
	// A directory someone else made world-readable must be tightened, not trusted.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fs := FileStore{Dir: dir}
	if pw, err := fs.Password("hello-svc"); err != nil || pw != "" {
		t.Fatalf("empty store: %q, %v", pw, err)
	}
	if err := fs.SetPassword("hello-svc", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if pw, err := fs.Password("hello-svc"); err != nil || pw != "s3cret" {
		t.Fatalf("read back %q, %v", pw, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "hello-svc.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("credential file mode %o, want 600", m)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := di.Mode().Perm(); m != 0o700 {
		t.Errorf("credential dir mode %o, want 700", m)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
}

func TestRandomPasswordsDiffer(t *testing.T) {
	a, b := RandomPassword(), RandomPassword()
	if a == b || len(a) < 30 {
		t.Fatalf("weak passwords: %q %q", a, b)
	}
}

func TestNameFromSlug(t *testing.T) {
	if got := NameFromSlug("skeleton-svc"); got != "Skeleton Svc" {
		t.Fatalf("got %q", got)
	}
}

func TestListenAddr(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:9311":  "127.0.0.1:9311",
		"http://localhost:9311/": "127.0.0.1:9311",
		"http://myhost.lan:8080": ":8080",
		"https://[::1]":          "[::1]:443",
		"http://10.0.0.5":        "10.0.0.5:80",
	} {
		got, err := listenAddr(in)
		if err != nil || got != want {
			t.Errorf("listenAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:9311", "ftp://x:1", "http://"} {
		if _, err := listenAddr(bad); err == nil {
			t.Errorf("listenAddr(%q) accepted", bad)
		}
	}
}
