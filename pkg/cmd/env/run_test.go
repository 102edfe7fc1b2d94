package env

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

// fakeDeps is what the env commands need, on a temp config and no factory.
func fakeDeps(t *testing.T) (cmdutil.Deps, *config.Config) {
	ios, _, _, _ := iostreams.Test()
	cfg, err := config.Load(filepath.Join(t.TempDir(), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return cmdutil.Deps{
		IO:      ios,
		Config:  func() (*config.Config, error) { return cfg, nil },
		EnvName: func() (string, error) { return cfg.Current, nil },
	}, cfg
}

// The run functions work on their options alone: no factory, a config given as a function.
func TestEnvRunFunctions(t *testing.T) {
	d, cfg := fakeDeps(t)
	if err := addRun(&AddOptions{Deps: d, Name: "dev", URL: "http://127.0.0.1:9000/", Use: true}); err != nil {
		t.Fatal(err)
	}
	if e := cfg.Environments["dev"]; e == nil || e.URL != "http://127.0.0.1:9000" || cfg.Current != "dev" {
		t.Fatalf("after add: %+v current %s", e, cfg.Current)
	}
	if err := addRun(&AddOptions{Deps: d, Name: "dev", URL: "http://127.0.0.1:9001"}); cmdutil.ExitCode(err) != cmdutil.ExitConflict {
		t.Fatalf("add again without --force: %v", err)
	}
	if err := useRun(&UseOptions{Deps: d, Name: "local"}); err != nil || cfg.Current != "local" {
		t.Fatalf("use: %v %s", err, cfg.Current)
	}
	out := d.IO.Out.(interface{ String() string })
	if err := lsRun(&LsOptions{Deps: d, Output: "json"}); err != nil || !strings.Contains(out.String(), `"name": "dev"`) {
		t.Fatalf("ls: %v %s", err, out.String())
	}
	d.Target = func() (*cmdutil.Session, error) {
		return &cmdutil.Session{Env: "local", URL: "http://127.0.0.1:58231", URLFrom: "env local"}, nil
	}
	if err := currentRun(&CurrentOptions{Deps: d}); err != nil || !strings.HasSuffix(out.String(), "local\n") {
		t.Fatalf("current: %v %q", err, out.String())
	}
	if err := rmRun(&RmOptions{Deps: d, Name: "dev"}); err != nil || cfg.Environments["dev"] != nil {
		t.Fatalf("rm: %v", err)
	}
}

// runF sees the parsed flags and arguments instead of the run function.
func TestEnvAddFlags(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	var got *AddOptions
	cmd := NewCmdAdd(&cmdutil.Factory{IOStreams: ios}, func(o *AddOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"dev", "http://x", "--use", "--description", "mine"})
	if err := cmd.Execute(); err != nil || got.Name != "dev" || got.URL != "http://x" || !got.Use || got.Description != "mine" || got.Force {
		t.Fatalf("%v %+v", err, got)
	}
}
