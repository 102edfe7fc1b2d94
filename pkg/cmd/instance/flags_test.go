package instance

import (
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

func TestLsFlagsToOptions(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	var got *LsOptions
	cmd := NewCmdLs(&cmdutil.Factory{IOStreams: ios}, func(o *LsOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--slug", "svc-a", "-o", "json", "-w", "--interval", "5s", "--host", "h1"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.filter.Slug != "svc-a" || got.filter.Host != "h1" || got.output != "json" || !got.watch || got.interval != 5*time.Second {
		t.Fatalf("options: %+v", got)
	}
	cmd = NewCmdLs(&cmdutil.Factory{IOStreams: ios}, func(o *LsOptions) error { got = o; return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.watch || got.interval != 2*time.Second || got.output != "" {
		t.Fatalf("defaults: %+v", got)
	}
}
