// Package keyringtest gives tests a real Secret Service: gnome-keyring on a private D-Bus
// session, in a temporary HOME, so that nothing touches the developer's own keyring.
//
// Where the programs are missing the test is skipped with the reason, unless OO_REQUIRE_KEYRING=1
// (CI sets it), which turns the skip into a failure: CI must not pass without running it.
// Needs the Debian packages dbus and gnome-keyring (libsecret-tools adds secret-tool).
package keyringtest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RequireEnv is the variable that makes a missing keyring a failure instead of a skip.
const RequireEnv = "OO_REQUIRE_KEYRING"

// Unavailable skips or fails t (see RequireEnv) with why.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("real keyring test required (%s=1) but cannot run: %s", RequireEnv, why)
	}
	t.Skipf("no real keyring: %s (install dbus and gnome-keyring; set %s=1 to make this fatal)", why, RequireEnv)
}

// script unlocks a fresh keyring, reports the bus address, then holds the session open until
// its stdin closes: closing it ends cat, then the session, then the daemon with its bus.
const script = `echo -n "$OO_KEYRING_TEST_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 1
echo "BUS=$DBUS_SESSION_BUS_ADDRESS"
exec cat >/dev/null`

// Start runs the session for the rest of the test and returns its D-Bus address, for
// DBUS_SESSION_BUS_ADDRESS.
func Start(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"dbus-run-session", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(p); err != nil {
			Unavailable(t, p+" not found in PATH")
		}
	}
	home := t.TempDir()
	logf, err := os.Create(filepath.Join(home, "session.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("dbus-run-session", "--", "sh", "-c", script)
	// A fresh HOME and XDG_DATA_HOME: a keyring file left with another password would not unlock.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_DATA_HOME=" + filepath.Join(home, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
		"OO_KEYRING_TEST_PASSWORD=test-keyring-password",
	}
	// Output to a file, not a pipe we drain: the daemon inherits it and outlives the shell.
	cmd.Stderr = logf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		Unavailable(t, "starting dbus-run-session: "+err.Error())
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "BUS="); ok {
				addr <- a
				break
			}
		}
		close(addr)
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case a, ok := <-addr:
		if !ok || a == "" {
			<-exited
			raw, _ := os.ReadFile(logf.Name())
			t.Fatalf("the keyring session did not start: %s", raw)
		}
		return a
	case <-time.After(20 * time.Second):
		raw, _ := os.ReadFile(logf.Name())
		t.Fatalf("the keyring session did not start within 20s: %s", raw)
	}
	return ""
}
