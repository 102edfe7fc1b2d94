package root_test

import (
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/buildinfo"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmd/version"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// Cobra's own usage errors become one line that names what is missing and points once to the
// command's --help, exit 2, for every command (pkg/cmd/service's too).
func TestUsageErrorsAreOneClearLine(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"completion", "foo"}, `oo completion has no command "foo" (see 'oo completion --help')`},
		{[]string{"env", "foo"}, `oo env has no command "foo" (see 'oo env --help')`},
		{[]string{"logn"}, `oo has no command "logn" (did you mean login or logs?) (see 'oo --help')`},
		{[]string{"instance", "ls", "--bogus"}, `unknown flag: --bogus (see 'oo instance ls --help')`},
		{[]string{"instance", "ls", "extra"}, `oo instance ls takes no arguments, got "extra" (see 'oo instance ls --help')`},
		{[]string{"env", "add", "x"}, `oo env add needs NAME and URL (see 'oo env add --help')`},
		{[]string{"env", "add", "x", "y", "z"}, `oo env add takes only NAME and URL, got 3 arguments`},
		{[]string{"instance", "rm"}, `oo instance rm needs at least one ID (see 'oo instance rm --help')`},
		{[]string{"service", "register", "foo"}, `oo service register needs --url (see 'oo service register --help')`},
		{[]string{"login", "a", "b"}, `oo login takes only SLUG, got 2 arguments`},
	}
	for _, c := range cases {
		r := h.Run(cmdtest.Piped, "", c.args...)
		cmdtest.MustFail(t, r, cmdutil.ExitUsage, "oo: "+c.want)
		if strings.Count(r.Err, "\n") != 1 || strings.Count(r.Err, "--help") != 1 || r.Out != "" {
			t.Errorf("%v: want one line with one hint, got %q (stdout %q)", c.args, r.Err, r.Out)
		}
	}
}

// `oo --version` prints what `oo version` prints.
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "")
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "--version"), "--version")
	if r.Out != version.Text(buildinfo.Get()) || r.Out != h.Run(cmdtest.Piped, "", "version").Out {
		t.Fatalf("--version printed %q", r.Out)
	}
}

// The exit codes are listed under `oo --help` and `oo help exit-codes`; other commands point there.
func TestExitCodesOnlyInRootHelp(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "")
	if r := h.Run(cmdtest.Piped, "", "--help"); !strings.Contains(r.Out, "7  the server could not be reached") {
		t.Fatalf("root help lacks the exit codes:\n%s", r.Out)
	}
	r := h.Run(cmdtest.Piped, "", "instance", "ls", "--help")
	if strings.Contains(r.Out, "7  the server") || !strings.Contains(r.Out, "Exit codes: see 'oo help exit-codes'.") {
		t.Fatalf("instance ls help:\n%s", r.Out)
	}
}

// -e does nothing for the server, version and completion: their help does not offer it.
func TestEnvFlagHiddenWhereMeaningless(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "")
	for _, args := range [][]string{{"server", "start"}, {"version"}, {"completion", "bash"}} {
		r := h.Run(cmdtest.Piped, "", append(args, "--help")...)
		if strings.Contains(r.Out, "--env") {
			t.Errorf("%v --help offers --env:\n%s", args, r.Out)
		}
	}
	if r := h.Run(cmdtest.Piped, "", "instance", "ls", "--help"); !strings.Contains(r.Out, "--env") {
		t.Errorf("instance ls lost --env:\n%s", r.Out)
	}
}

// An unknown environment lists the known ones as words, not as a Go slice.
func TestUnknownEnvListsKnownNames(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "")
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "add", "rev", "http://127.0.0.1:9"), "env add")
	for _, args := range [][]string{{"env", "use", "nosuch"}, {"env", "rm", "nosuch"}, {"whoami", "-e", "nosuch"}} {
		cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", args...), cmdutil.ExitUsage, `oo: no environment named "nosuch" (known: local, rev; add one with`)
	}
}
