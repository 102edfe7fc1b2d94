package server

import (
	"context"
	"testing"

	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

func TestStartFlagsAndRun(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	var got *StartOptions
	cmd := NewCmdStart(&cmdutil.Factory{IOStreams: ios}, func(o *StartOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--addr", "127.0.0.1:9", "--registration", "nobody", "--max-instances", "3"})
	if err := cmd.Execute(); err != nil || got.addr != "127.0.0.1:9" || got.registration != "nobody" || got.maxInstances != 3 || got.IO != ios {
		t.Fatalf("%v %+v", err, got)
	}
	// startRun checks its options before anything listens.
	got.Ctx = context.Background()
	if err := startRun(got); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Fatalf("--registration nobody: %v", err)
	}
}

func TestStartMetricsFlag(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	var got *StartOptions
	t.Setenv("OO_METRICS", "admin")
	cmd := NewCmdStart(&cmdutil.Factory{IOStreams: ios}, func(o *StartOptions) error { got = o; return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil || got.metrics != "admin" {
		t.Fatalf("OO_METRICS=admin: %v, --metrics %q", err, got.metrics)
	}
	cmd = NewCmdStart(&cmdutil.Factory{IOStreams: ios}, func(o *StartOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--metrics", "public"})
	if err := cmd.Execute(); err != nil || got.metrics != "public" {
		t.Fatalf("%v %+v", err, got)
	}
	got.Ctx = context.Background()
	if err := startRun(got); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Fatalf("--metrics public: %v", err)
	}
}
