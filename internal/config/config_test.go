package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
)

func TestDirFollowsEnvironmentAtRuntime(t *testing.T) {
	d := t.TempDir()
	t.Setenv("OO_CONFIG_DIR", "")
	t.Setenv("XDG_CONFIG_HOME", d)
	if got := Dir(); got != filepath.Join(d, "oo") {
		t.Fatalf("Dir() = %s, want under the XDG_CONFIG_HOME set after start-up", got)
	}
	t.Setenv("OO_CONFIG_DIR", filepath.Join(d, "x"))
	if got := DefaultPath(); got != filepath.Join(d, "x", "config.json") {
		t.Fatalf("OO_CONFIG_DIR ignored: %s", got)
	}
}

func TestLoadSaveRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "oo", "config.json")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Current != DefaultEnv || c.Environments[DefaultEnv].URL != api.DefaultURL {
		t.Fatalf("first run: %+v", c)
	}
	c.Environments["dev"] = &Environment{URL: "http://h:1"}
	if err := c.AddAccount("dev", "alice", StorageKeyring); err != nil {
		t.Fatal(err)
	}
	if err := c.AddAccount("dev", "bob", StorageFile); err != nil {
		t.Fatal(err)
	}
	c.Current = "dev"
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
	c2, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Current != "dev" || c2.Environments["dev"].User != "bob" || c2.Environments["dev"].Accounts["alice"].Storage != StorageKeyring {
		t.Fatalf("round trip: %+v", c2.Environments["dev"])
	}
	c2.RemoveAccount("dev", "bob")
	if c2.Environments["dev"].User != "alice" {
		t.Fatal("removing the selected account selects another")
	}
	c2.RemoveAccount("dev", "alice")
	if c2.Environments["dev"].User != "" || c2.HasAccount("dev", "alice") {
		t.Fatal("no accounts left, none selected")
	}
}

func TestBrokenFileIsAnErrorThatSaysWhere(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(p, []byte("{not json"), 0o600)
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("want an error naming the file, got %v", err)
	}
}

func TestUnknownEnvAndNames(t *testing.T) {
	c := New("")
	if _, err := c.Env("nope"); err == nil || !strings.Contains(err.Error(), "oo env add") {
		t.Fatalf("unknown env: %v", err)
	}
	for _, bad := range []string{"", "a/b", "-x", "a b"} {
		if ValidName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if ValidName("staging-2.eu") != nil {
		t.Error("valid name refused")
	}
}
