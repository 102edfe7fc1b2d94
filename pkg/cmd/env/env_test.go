package env_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/server/servertest"
)

func TestFirstRunHasLocal(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "")
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "current"), "current")
	if r.Out != "local\n" {
		t.Fatalf("current: %q", r.Out)
	}
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "ls", "-o", "json"), "ls")
	var got struct {
		Environments []struct {
			Name, URL string
			Current   bool
		}
	}
	if err := json.Unmarshal([]byte(r.Out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Environments) != 1 || got.Environments[0].Name != "local" || got.Environments[0].URL != api.DefaultURL || !got.Environments[0].Current {
		t.Fatalf("%+v", got)
	}
	// Reading does not create the file; the first write does.
	if _, err := os.Stat(h.ConfigPath); !os.IsNotExist(err) {
		t.Fatalf("config written by a read: %v", err)
	}
}

func TestAddUseRm(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "")
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "add", "staging", "https://oo.example.com/", "--description", "shared"), "add")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "env", "add", "staging", "https://other.example.com"), cmdutil.ExitConflict, "--force")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "env", "add", "bad/name", "https://x.example.com"), cmdutil.ExitUsage, "invalid environment name")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "env", "add", "x", "ftp://x.example.com"), cmdutil.ExitUsage, "invalid server URL")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "env", "use", "nope"), cmdutil.ExitUsage, `no environment named "nope"`)

	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "ls"), "ls")
	want := "CURRENT\tNAME\tURL\tUSER\tACCOUNTS\tDESCRIPTION\n*\tlocal\thttp://127.0.0.1:58231\t-\t\ta server on this machine\n\tstaging\thttps://oo.example.com\t-\t\tshared\n"
	if r.Out != want {
		t.Fatalf("ls piped:\n%q\nwant\n%q", r.Out, want)
	}
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "use", "staging"), "use")
	if r := h.Run(cmdtest.Piped, "", "env", "current"); r.Out != "staging\n" {
		t.Fatalf("current after use: %q", r.Out)
	}
	// -e and OO_ENV pick an environment for one command; OO_URL overrides the URL.
	if r := h.Run(cmdtest.Piped, "", "env", "current", "-e", "local"); r.Out != "local\n" {
		t.Fatalf("-e: %q", r.Out)
	}
	h.Vars["OO_ENV"] = "local"
	if r := h.Run(cmdtest.Piped, "", "env", "current"); r.Out != "local\n" {
		t.Fatalf("OO_ENV: %q", r.Out)
	}
	delete(h.Vars, "OO_ENV")
	h.Vars["OB_URL"] = "http://127.0.0.1:1"
	h.Vars["OO_URL"] = "http://127.0.0.1:2"
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "current", "-o", "json"), "current json")
	if !strings.Contains(r.Out, `"url": "http://127.0.0.1:2"`) || !strings.Contains(r.Out, `"urlFrom": "OO_URL"`) {
		t.Fatalf("OO_URL must win over OB_URL: %s", r.Out)
	}
	delete(h.Vars, "OO_URL")
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "current", "-o", "json"), "current json")
	if !strings.Contains(r.Out, `"urlFrom": "OB_URL"`) {
		t.Fatalf("OB_URL alias: %s", r.Out)
	}

	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "env", "rm", "local"), cmdutil.ExitUsage, "built in")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "env", "rm", "nope"), cmdutil.ExitUsage, `no environment named "nope"`)
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "rm", "staging"), "rm")
	if r := h.Run(cmdtest.Piped, "", "env", "current"); r.Out != "local\n" {
		t.Fatalf("removing the current env falls back to local: %q", r.Out)
	}
	st, err := os.Stat(h.ConfigPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v", st, err)
	}
	// The file is human-editable JSON.
	raw, _ := os.ReadFile(h.ConfigPath)
	if !strings.Contains(string(raw), "\n  \"environments\": {") {
		t.Fatalf("config not indented JSON:\n%s", raw)
	}
}

func TestForceUpdatesLocalAndRmDeletesTokens(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, "")
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "add", "local", srv.URL, "--force"), "force")
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "add", "dev", srv.URL, "--use"), "add dev")
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, servertest.AdminPassword+"\n", "login", "admin", "--password-stdin"), "login dev")
	if _, err := h.Keyring.Get("dev", "admin"); err != nil {
		t.Fatalf("login on dev stores under dev/admin: %v", err)
	}
	r := cmdtest.MustOK(t, h.Run(cmdtest.Terminal, "", "env", "ls"), "ls tty")
	if !strings.Contains(r.Out, "dev") || strings.Contains(r.Out, "\t") {
		t.Fatalf("tty table: %q", r.Out)
	}
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "rm", "dev"), "rm dev")
	if h.Keyring.Len() != 0 {
		t.Fatal("env rm left the token in the store")
	}
}

func TestEnvHelp(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "")
	for _, c := range []string{"add", "ls", "use", "rm", "current"} {
		if r := h.Run(cmdtest.Piped, "", "env", c, "--help"); !strings.Contains(r.Out, "Examples:") {
			t.Errorf("env %s --help has no examples", c)
		}
	}
}
