// Package cmdtest runs oo commands in-process for tests: the real command tree, a real config
// file in a temp dir, an in-memory credential store standing in for the OS keyring, fake
// terminals and a fake environment, usually against a real in-process server (servertest).
package cmdtest

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/internal/credstore"
	"github.com/ooctl/oo/pkg/cmd/root"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

// Harness is one user's machine: config, stores and environment persist across Run calls.
type Harness struct {
	t          testing.TB
	Dir        string
	ConfigPath string
	Keyring    *credstore.Memory
	// Secure, when set, replaces Keyring (the real keyring test sets the OS keyring).
	Secure   credstore.Store
	Insecure *credstore.File
	Vars     map[string]string
	Now      func() time.Time
}

// New makes a machine whose "local" environment points at serverURL (empty: the default).
func New(t testing.TB, serverURL string) *Harness {
	t.Helper()
	dir := t.TempDir()
	h := &Harness{
		t: t, Dir: dir,
		ConfigPath: filepath.Join(dir, "config.json"),
		Keyring:    credstore.NewMemory(),
		Insecure:   credstore.NewFile(filepath.Join(dir, "credentials.json")),
		Vars:       map[string]string{},
		Now:        time.Now,
	}
	if serverURL != "" {
		c := config.New(h.ConfigPath)
		c.Environments[config.DefaultEnv].URL = serverURL
		if err := c.Save(); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// Result is what one command did.
type Result struct {
	Out, Err string
	Code     int
}

// TTY says which streams are terminals.
type TTY struct{ In, Out, Err, Color bool }

// Piped: nothing is a terminal (a script).
var Piped = TTY{}

// Terminal: a person at a terminal, colour off so output is easy to compare.
var Terminal = TTY{In: true, Out: true, Err: true}

// Run runs `oo args...` with stdin.
func (h *Harness) Run(tty TTY, stdin string, args ...string) Result {
	h.t.Helper()
	ios, in, out, errOut := iostreams.Test()
	in.WriteString(stdin)
	ios.SetStdinTTY(tty.In)
	ios.SetStdoutTTY(tty.Out)
	ios.SetStderrTTY(tty.Err)
	ios.SetNoColor(!tty.Color)
	f := h.Factory(ios)
	cmd := root.NewCmdFactory(f)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	code := root.Execute(ctx, f, cmd)
	return Result{Out: out.String(), Err: errOut.String(), Code: code}
}

// Factory is a factory on h's config, stores, environment and clock.
func (h *Harness) Factory(ios *iostreams.IOStreams) *cmdutil.Factory {
	var secure credstore.Store = h.Keyring
	if h.Secure != nil {
		secure = h.Secure
	}
	return &cmdutil.Factory{
		IOStreams:  ios,
		ConfigPath: h.ConfigPath,
		Keyring:    secure,
		Insecure:   h.Insecure,
		Getenv:     func(k string) string { return h.Vars[k] },
		Now:        func() time.Time { return h.Now() },
		HTTPClient: &http.Client{Timeout: 60 * time.Second},
	}
}

// Config reads the config file as it is on disk.
func (h *Harness) Config() *config.Config {
	h.t.Helper()
	c, err := config.Load(h.ConfigPath)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// MustOK fails the test unless r exited 0.
func MustOK(t testing.TB, r Result, what string) Result {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", what, r.Code, r.Out, r.Err)
	}
	return r
}

// MustFail fails the test unless r exited with code and stderr contains every want.
func MustFail(t testing.TB, r Result, code int, want ...string) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("want exit %d, got %d\nstdout: %s\nstderr: %s", code, r.Code, r.Out, r.Err)
	}
	for _, w := range want {
		if !strings.Contains(r.Err, w) {
			t.Fatalf("stderr lacks %q:\n%s", w, r.Err)
		}
	}
}
