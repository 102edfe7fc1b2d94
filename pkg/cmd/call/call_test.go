package call

import (
	"context"
	"testing"

	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

func TestFlagsToOptions(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	var got *Options
	cmd := NewCmd(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"POST", "/svc/x", "-d", "@-", "-H", "A: 1", "-H", "B: 2", "-i"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got.method != "POST" || got.path != "/svc/x" || got.data != "@-" || len(got.headers) != 2 || !got.include {
		t.Fatalf("options: %+v", got)
	}
	cmd = NewCmd(&cmdutil.Factory{IOStreams: ios}, nil)
	cmd.SetArgs([]string{"fetch", "/x"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Fatalf("unknown method: %v", err)
	}
}
