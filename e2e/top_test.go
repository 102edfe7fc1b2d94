//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ooctl/oo/internal/proctest"
)

// openPTY opens a pseudo-terminal pair with the plain syscalls (no pty library in go.mod):
// the test holds master, oo gets slave as its stdin, stdout and stderr.
func openPTY(t *testing.T, cols, rows uint16) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	unlock := 0
	if err := ioctl(master, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		t.Fatal(err)
	}
	var n uint32
	if err := ioctl(master, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		t.Fatal(err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	ws := struct{ row, col, x, y uint16 }{rows, cols, 0, 0}
	if err := ioctl(slave, syscall.TIOCSWINSZ, unsafe.Pointer(&ws)); err != nil {
		t.Fatal(err)
	}
	return master, slave
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

// cooked reports whether the terminal is back in its normal mode (line editing and echo on).
func cooked(t *testing.T, f *os.File) bool {
	t.Helper()
	var tio syscall.Termios
	if err := ioctl(f, syscall.TCGETS, unsafe.Pointer(&tio)); err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&syscall.ICANON != 0 && tio.Lflag&syscall.ECHO != 0
}

// topServer is a real server with the account e2e-top, one instance and a few proxied requests,
// and e pointed at it with that account's token.
func topServer(t *testing.T) (e *env, srv *serverProc, token string) {
	t.Helper()
	e, srv, token = newSlugEnv(t, "e2e-top")
	for range 5 {
		rsp, err := http.Get(srv.URL + "/e2e-top/x")
		if err != nil {
			t.Fatal(err)
		}
		rsp.Body.Close()
	}
	return e, srv, token
}

// startTop runs `oo top` on a fresh terminal of its own (a new session, the pty as controlling
// terminal), as a person would; p.Out collects what it draws.
func startTop(t *testing.T, e *env) (master, slave *os.File, p *bgProc) {
	t.Helper()
	master, slave = openPTY(t, 100, 20)
	cmd := exec.Command(ooBin, "top")
	cmd.Env = append(e.Vars, "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// Setsid also makes oo the leader of its own process group, which checkGroup relies on.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	p = &bgProc{Out: &proctest.Output{}}
	startBg(t, cmd, p)
	go func() { _, _ = io.Copy(p.Out, master) }() // ends with EIO when the pty closes
	return master, slave, p
}

func waitFor(t *testing.T, screen *proctest.Output, what string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(screen.String(), what); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the screen never showed %q:\n%q", what, screen.String())
		}
	}
}

// On a real terminal, oo top draws the slug on the alternate screen, sorts on a key, redraws
// when the window shrinks, and q
// quits with exit 0 leaving the terminal as it found it (cursor shown, normal screen, cooked
// mode); SIGTERM does the same.
func TestTopOnARealTerminal(t *testing.T) {
	t.Parallel()
	e, _, _ := topServer(t)

	master, slave, p := startTop(t, e)
	waitFor(t, p.Out, "e2e-top")
	if cooked(t, slave) {
		t.Fatal("oo top should have put the terminal in raw mode")
	}
	if _, err := master.Write([]byte("n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p.Out, "▼SLUG")
	// A narrower window is redrawn to fit: the title line gets cut.
	if strings.Contains(p.Out.String(), "…") {
		t.Fatal("nothing should be cut at 100 columns")
	}
	ws := struct{ row, col, x, y uint16 }{20, 40, 0, 0}
	if err := ioctl(slave, syscall.TIOCSWINSZ, unsafe.Pointer(&ws)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p.Out, "…")
	if _, err := master.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	exitedRestored(t, p, slave, "q")

	_, slave, p = startTop(t, e)
	waitFor(t, p.Out, "e2e-top")
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exitedRestored(t, p, slave, "SIGTERM")
}

// When the token stops working under it, oo top leaves the alternate screen, restores the
// terminal, and says on one line to log in again (with OO_TOKEN: get a fresh one), exit 4.
func TestTopTokenRevoked(t *testing.T) {
	t.Parallel()
	e, srv, tok := topServer(t)
	_, slave, p := startTop(t, e)
	waitFor(t, p.Out, "e2e-top")
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/user-svc/token", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode/100 != 2 {
		t.Fatalf("revoke: HTTP %d", rsp.StatusCode)
	}
	if code := p.Wait(t, 10*time.Second); code != 4 {
		t.Fatalf("revoked token: exit %d\n%q", code, p.Out.String())
	}
	waitFor(t, p.Out, "log in again")
	out := p.Out.String()
	after := out[strings.LastIndex(out, "\x1b[?1049l")+1:]
	if !strings.Contains(after, "log in again") || strings.Count(after, "\n") != 1 {
		t.Fatalf("the error should come after leaving the alternate screen:\n%q", out)
	}
	if !cooked(t, slave) {
		t.Fatal("the terminal was left in raw mode after the auth error")
	}
}

// Without a terminal the real binary refuses the live view and points at the script forms,
// which work.
func TestTopInAScript(t *testing.T) {
	t.Parallel()
	e, _, _ := topServer(t)
	cliWant(t, e.Run("", "top"), 2, "needs a terminal", "oo top -o json --once")
	r := e.Run("", "top", "-o", "json", "--once")
	cliWant(t, r, 0)
	var top struct {
		Slugs []struct {
			Slug      string `json:"slug"`
			Requests  int    `json:"requests"`
			Instances int    `json:"instances"`
		} `json:"slugs"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &top); err != nil || len(top.Slugs) != 1 ||
		top.Slugs[0].Slug != "e2e-top" || top.Slugs[0].Requests != 5 || top.Slugs[0].Instances != 1 {
		t.Fatalf("snapshot: %+v %v\n%s", top, err, r.Stdout)
	}
	r = e.Run("", "top", "--once")
	cliWant(t, r, 0)
	if !strings.HasPrefix(r.Stdout, "SLUG\tREQ/S\t") || !strings.Contains(r.Stdout, "e2e-top\t") {
		t.Fatalf("table: %q", r.Stdout)
	}

	// -o json streams a line a second until SIGTERM, which is a normal end (exit 0).
	p := e.Start("top", "-o", "json")
	for deadline := time.Now().Add(15 * time.Second); strings.Count(p.Out.String(), "\n") < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 2 JSON lines: %q %q", p.Out.String(), p.Err.String())
		}
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("SIGTERM on -o json: exit %d: %s", code, p.Err.String())
	}
	for i, line := range strings.Split(strings.TrimSpace(p.Out.String()), "\n") {
		if !json.Valid([]byte(line)) || !strings.Contains(line, `"e2e-top"`) {
			t.Fatalf("line %d: %q", i, line)
		}
	}
}

// exitedRestored: after how (a key or a signal) oo top ended with 0, showed the cursor again,
// left the alternate screen and put the terminal back in cooked mode.
func exitedRestored(t *testing.T, p *bgProc, slave *os.File, how string) {
	t.Helper()
	if code := p.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("%s: exit %d\n%q", how, code, p.Out.String())
	}
	waitFor(t, p.Out, "\x1b[?25h\x1b[?1049l")
	if !cooked(t, slave) {
		t.Fatalf("the terminal was left in raw mode after %s", how)
	}
}
