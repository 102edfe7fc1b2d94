package credstore_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ooctl/oo/internal/credstore"
	"github.com/ooctl/oo/internal/keyringtest"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/server/servertest"
)

// helperEnv makes this test binary act as a second process that reads one keyring entry.
const helperEnv = "OO_KEYRING_HELPER_ACCOUNT"

// TestKeyringHelperProcess is not a test: run by TestRealKeyring in a child process, it prints
// what the OS keyring holds for "env/slug", as another program on the machine would see it.
func TestKeyringHelperProcess(t *testing.T) {
	acct := os.Getenv(helperEnv)
	if acct == "" {
		t.Skip("helper for TestRealKeyring; runs only in its child process")
	}
	env, slug, _ := strings.Cut(acct, "/")
	tok, err := credstore.NewKeyring().Get(env, slug)
	switch {
	case errors.Is(err, credstore.ErrNotFound):
		fmt.Println("RESULT=notfound")
	case err != nil:
		fmt.Println("RESULT=error " + err.Error())
	default:
		fmt.Println("RESULT=token " + tok)
	}
}

// readFromOtherProcess runs TestKeyringHelperProcess in a new process on the same D-Bus session.
func readFromOtherProcess(t *testing.T, bus, account string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKeyringHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+bus, helperEnv+"="+account)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if r, ok := strings.CutPrefix(l, "RESULT="); ok {
			return r
		}
	}
	t.Fatalf("helper printed no result:\n%s", out)
	return ""
}

// TestRealKeyring: `oo login` stores the token in a real Secret Service, another process reads
// the same token back, and `oo logout` removes it (and revokes it on the server).
func TestRealKeyring(t *testing.T) {
	bus := keyringtest.Start(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", bus)

	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	h.Secure = credstore.NewKeyring()

	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, servertest.AdminPassword+"\n", "login", "admin", "--password-stdin"), "login")
	if !strings.Contains(r.Err, "OS keyring") {
		t.Fatalf("login did not use the OS keyring: %s", r.Err)
	}
	got := readFromOtherProcess(t, bus, "local/admin")
	tok, ok := strings.CutPrefix(got, "token ")
	if !ok || tok == "" {
		t.Fatalf("another process reads %q, want the token", got)
	}
	if code := srv.Do(t, http.MethodPost, api.PathUserByToken, tok, nil, nil); code != 200 {
		t.Fatalf("the token read back does not work: HTTP %d", code)
	}
	if p, err := exec.LookPath("secret-tool"); err == nil {
		cmd := exec.Command(p, "lookup", "service", credstore.Service, "username", "local/admin")
		cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+bus)
		if out, err := cmd.Output(); err != nil || string(out) != tok {
			t.Fatalf("secret-tool sees %q (%v), want the token", out, err)
		}
	}
	// The config holds no secret even with a real keyring.
	raw, _ := os.ReadFile(h.ConfigPath)
	if strings.Contains(string(raw), tok) {
		t.Fatal("token in the config file")
	}

	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "logout"), "logout")
	if got := readFromOtherProcess(t, bus, "local/admin"); got != "notfound" {
		t.Fatalf("after logout another process reads %q, want notfound", got)
	}
	if code := srv.Do(t, http.MethodPost, api.PathUserByToken, tok, nil, nil); code != 401 {
		t.Fatalf("logout did not revoke the token: HTTP %d", code)
	}
}
