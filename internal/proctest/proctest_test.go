package proctest

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestMainFailsOnLeftover: a process started during the run that is still alive afterwards,
// even in a session of its own, turns a passing run into a failure and is killed.
func TestMainFailsOnLeftover(t *testing.T) {
	if !Supported() {
		t.Skip("needs /proc")
	}
	defer os.Unsetenv(Var)
	var leaked int
	code := Main(func() int {
		cmd := exec.Command("sh", "-c", `setsid sleep 60 >/dev/null 2>&1 & echo $!`)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range out {
			if c >= '0' && c <= '9' {
				leaked = leaked*10 + int(c-'0')
			}
		}
		// sh exits as soon as it started the job: wait until the job has become sleep, since
		// a process caught in exec shows no environment and so no mark.
		for deadline := time.Now().Add(5 * time.Second); Cmdline(leaked) != "sleep 60" && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		return 0
	})
	if code != 1 {
		t.Errorf("Main returned %d with process %d left running, want 1", code, leaked)
	}
	if left := Leftovers(Var+"="+os.Getenv(Var), 5*time.Second); len(left) != 0 {
		Kill(left)
		t.Errorf("left running after Main: %v", left)
	}
}
