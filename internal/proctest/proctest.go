// Package proctest lets tests prove that nothing they started outlives them. A test (or a test
// binary) puts a fresh mark in the environment of what it starts; descendants inherit it, even
// those that moved to another process group or were reparented, so once everything should have
// stopped, any live process carrying the mark is a leak.
package proctest

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ooctl/oo/internal/randid"
)

// Var is the environment variable that carries the mark.
const Var = "OO_TEST_OWNER"

// NewMark returns a fresh Var=... entry for a process's environment.
func NewMark() string {
	return Var + "=" + randid.Hex(8)
}

// Supported reports whether marked processes can be found here (Linux's /proc).
func Supported() bool { return runtime.GOOS == "linux" }

// Marked lists the live (not zombie) processes other than this one whose environment holds
// mark. It finds nothing where /proc is missing.
func Marked(mark string) []int {
	if !Supported() {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + ent.Name() + "/environ")
		if err != nil || !hasEntry(env, mark) || Zombie(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// Leftovers waits up to d for the marked processes to end (a parent's cleanup may still be
// stopping them) and returns those still running then.
func Leftovers(mark string, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		left := Marked(mark)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Describe is "pid command line" for messages.
func Describe(pid int) string { return strconv.Itoa(pid) + " (" + Cmdline(pid) + ")" }

// Kill sends SIGKILL to each pid.
func Kill(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func hasEntry(environ []byte, kv string) bool {
	for _, e := range bytes.Split(environ, []byte{0}) {
		if string(e) == kv {
			return true
		}
	}
	return false
}

// Zombie reports whether pid has exited (or is gone) without being reaped.
func Zombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // gone meanwhile
	}
	// pid (comm) state ...: comm may hold spaces and parentheses, so look after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z'
}

// Cmdline is pid's command line, or "?".
func Cmdline(pid int) string {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(strings.ReplaceAll(string(raw), "\x00", " "))
}

// Main runs a test binary's tests (m.Run) with a mark in its own environment, which everything
// the tests start inherits, and fails the run (exit 1) for any marked process still running
// afterwards, which it kills. Use it as TestMain's last line: os.Exit(proctest.Main(m.Run)).
func Main(run func() int) int {
	mark := NewMark()
	k, v, _ := strings.Cut(mark, "=")
	_ = os.Setenv(k, v)
	code := run()
	if left := Leftovers(mark, 5*time.Second); len(left) > 0 {
		for _, pid := range left {
			os.Stderr.WriteString("proctest: process " + Describe(pid) + " outlived the tests that started it\n")
		}
		Kill(left)
		if code == 0 {
			code = 1
		}
	}
	return code
}
