package version

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/buildinfo"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

func TestVersionRun(t *testing.T) {
	ios, _, out, _ := iostreams.Test()
	info := func() buildinfo.Info { return buildinfo.Info{Version: "v1.2.3", Commit: "abc"} }
	if err := versionRun(&Options{IO: ios, Info: info}); err != nil || !strings.HasPrefix(out.String(), "oo v1.2.3\ncommit: abc\n") {
		t.Fatalf("text: %v %q", err, out)
	}
	out.Reset()
	var got buildinfo.Info
	if err := versionRun(&Options{IO: ios, Info: info, Output: "json"}); err != nil || json.Unmarshal(out.Bytes(), &got) != nil || got.Version != "v1.2.3" {
		t.Fatalf("json: %v %q", err, out)
	}
	if err := versionRun(&Options{IO: ios, Info: info, Output: "yaml"}); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Fatalf("yaml: %v", err)
	}
}

func TestVersionFlags(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	var got *Options
	cmd := NewCmd(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"-o", "json"})
	if err := cmd.Execute(); err != nil || got == nil || got.Output != "json" || got.IO != ios {
		t.Fatalf("%v %+v", err, got)
	}
}
