package credstore

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

// fakeBackend is a keyring that can fail or never answer.
type fakeBackend struct {
	mu      sync.Mutex
	data    map[string]string
	err     error
	hang    chan struct{} // when non-nil, every call blocks until it is closed
	lastKey string
}

func (b *fakeBackend) wait() {
	if b.hang != nil {
		<-b.hang
	}
}

func (b *fakeBackend) Set(s, u, p string) error {
	b.wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	b.lastKey = s + "|" + u
	b.data[s+"|"+u] = p
	return nil
}

func (b *fakeBackend) Get(s, u string) (string, error) {
	b.wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return "", b.err
	}
	v, ok := b.data[s+"|"+u]
	if !ok {
		return "", keyring.ErrNotFound
	}
	return v, nil
}

func (b *fakeBackend) Delete(s, u string) error {
	b.wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	if _, ok := b.data[s+"|"+u]; !ok {
		return keyring.ErrNotFound
	}
	delete(b.data, s+"|"+u)
	return nil
}

func TestKeyringEntryPerEnvAndSlug(t *testing.T) {
	b := &fakeBackend{data: map[string]string{}}
	k := &Keyring{Backend: b, Timeout: time.Second}
	if err := k.Set("local", "admin", "t1"); err != nil {
		t.Fatal(err)
	}
	if b.lastKey != "oo|local/admin" {
		t.Fatalf("keyring entry %q, want service oo, account local/admin", b.lastKey)
	}
	if err := k.Set("staging", "admin", "t2"); err != nil {
		t.Fatal(err)
	}
	if v, _ := k.Get("local", "admin"); v != "t1" {
		t.Fatalf("got %q", v)
	}
	if _, err := k.Get("local", "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing entry: %v", err)
	}
	if err := k.Delete("local", "admin"); err != nil {
		t.Fatal(err)
	}
	if err := k.Delete("local", "admin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if v, _ := k.Get("staging", "admin"); v != "t2" {
		t.Fatal("deleting one environment's entry touched another's")
	}
}

func TestKeyringErrorsAreUnavailable(t *testing.T) {
	k := &Keyring{Backend: &fakeBackend{data: map[string]string{}, err: errors.New("dbus: no session bus")}, Timeout: time.Second}
	err := k.Set("local", "a", "t")
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
}

func TestHungKeyringTimesOut(t *testing.T) {
	b := &fakeBackend{data: map[string]string{}, hang: make(chan struct{})}
	defer close(b.hang)
	k := &Keyring{Backend: b, Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := k.Get("local", "a")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s; the timeout did not bound the call", d)
	}
}

func TestFileStore(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "credentials.json")
	f := NewFile(p)
	if _, err := f.Get("local", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty store: %v", err)
	}
	if err := f.Set("local", "a", "tok-a"); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("dev", "a", "tok-b"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v %v", st, err)
	}
	if dir, _ := os.Stat(filepath.Dir(p)); dir.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v", dir.Mode().Perm())
	}
	if v, _ := NewFile(p).Get("dev", "a"); v != "tok-b" {
		t.Fatalf("another reader sees %q", v)
	}
	if err := f.Delete("local", "a"); err != nil {
		t.Fatal(err)
	}
	if err := f.Delete("dev", "a"); err != nil {
		t.Fatal(err)
	}
	// No tokens left, no plain-text file left.
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("empty store left its file: %v", err)
	}
}
