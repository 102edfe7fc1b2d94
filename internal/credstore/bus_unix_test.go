//go:build !darwin && !windows

package credstore

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// With no session bus to talk to, the keyring is unavailable at once and the backend (godbus,
// which would autolaunch a dbus-daemon that outlives oo) is never called.
func TestNoSessionBusFailsWithoutTouchingDBus(t *testing.T) {
	b := &fakeBackend{data: map[string]string{}}
	noBus := map[string]string{"XDG_RUNTIME_DIR": t.TempDir()}
	k := &Keyring{Backend: b, Timeout: time.Second, Getenv: func(k string) string { return noBus[k] }}
	start := time.Now()
	err := k.Set("local", "a", "t")
	if !errors.Is(err, ErrUnavailable) || b.lastKey != "" {
		t.Fatalf("want ErrUnavailable without a backend call, got %v (backend saw %q)", err, b.lastKey)
	}
	if d := time.Since(start); d > 500*time.Millisecond { // well under the 1 s keyring timeout it must not wait for
		t.Fatalf("took %s", d)
	}

	// A bus socket in $XDG_RUNTIME_DIR, or an address, is a bus: the backend is used.
	dir, err := os.MkdirTemp("", "oo-bus") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, err := net.Listen("unix", filepath.Join(dir, "bus"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, vars := range []map[string]string{{"XDG_RUNTIME_DIR": dir}, {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}} {
		k.Getenv = func(k string) string { return vars[k] }
		if err := k.Set("local", "a", "t"); err != nil || b.lastKey != "oo|local/a" {
			t.Fatalf("%v: %v (backend saw %q)", vars, err, b.lastKey)
		}
		b.lastKey = ""
	}
}
