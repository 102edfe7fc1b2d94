package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

// runF sees what the flags and arguments became; --health-path "" is told apart from no flag.
func TestRegisterFlags(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	var got *RegisterOptions
	cmd := NewCmdRegister(&cmdutil.Factory{IOStreams: ios}, func(o *RegisterOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"legacy-svc", "--url", "http://127.0.0.1:8080", "--health-path", ""})
	if err := cmd.Execute(); err != nil || got.slug != "legacy-svc" || got.url != "http://127.0.0.1:8080" || !got.healthPathSet {
		t.Fatalf("%v %+v", err, got)
	}
}

// runRun refuses what it cannot run before it resolves a session or creates anything: the
// session function must not be called.
func TestRunRunChecksFirst(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	d := cmdutil.Deps{IO: ios, Ctx: context.Background(), Session: func(bool) (*cmdutil.Session, error) {
		t.Error("session resolved for a command that cannot run")
		return nil, nil
	}}
	base := RunOptions{Deps: d, replicas: 1, restart: restartNo, grace: time.Second, startTimeout: time.Second, heartbeat: time.Second, maxBackoff: time.Second}
	for _, c := range []struct {
		argv []string
		edit func(*RunOptions)
		code int
		want string
	}{
		{[]string{"python3", "-m", "pkg"}, nil, cmdutil.ExitUsage, "--slug"},
		{[]string{"./svc"}, func(o *RunOptions) { o.replicas = 0 }, cmdutil.ExitUsage, "--replicas"},
		{[]string{"no-such-program-oo-test"}, nil, 127, "cannot run no-such-program-oo-test"},
	} {
		o := base
		o.argv = c.argv
		if c.edit != nil {
			c.edit(&o)
		}
		err := runRun(&o)
		if cmdutil.ExitCode(err) != c.code || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v (exit %d)", c.argv, err, cmdutil.ExitCode(err))
		}
	}
}
