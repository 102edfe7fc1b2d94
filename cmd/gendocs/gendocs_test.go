package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/adrg/xdg"
	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmd/root"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

// genInto runs the generator into a fresh directory and returns every file it wrote, keyed by
// path relative to that directory.
func genInto(t *testing.T) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	scrubEnv()
	if err := generate(newRoot(), filepath.Join(dir, "completions"), filepath.Join(dir, "man")); err != nil {
		t.Fatal(err)
	}
	return readTree(t, dir)
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// setMachine pretends to be another user on another machine: other home, no XDG overrides,
// a flag default set in the environment.
func setMachine(t *testing.T, oo string) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, v := range []string{"XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	t.Setenv("OO_ADDR", oo)
	t.Setenv("OO_DATA_DIR", filepath.Join(home, "custom"))
	xdg.Reload()
	return home
}

func TestGenerateIsDeterministic(t *testing.T) {
	t.Cleanup(xdg.Reload) // runs after the environment is restored

	home1 := setMachine(t, "127.0.0.1:1111")
	first := genInto(t)
	home2 := setMachine(t, "127.0.0.1:2222")
	second := genInto(t)

	if len(first) == 0 {
		t.Fatal("generator wrote nothing")
	}
	names := func(m map[string][]byte) []string {
		var s []string
		for k := range m {
			s = append(s, k)
		}
		sort.Strings(s)
		return s
	}
	if a, b := strings.Join(names(first), " "), strings.Join(names(second), " "); a != b {
		t.Fatalf("file sets differ between runs:\n%s\n%s", a, b)
	}
	for name, b := range first {
		if !bytes.Equal(b, second[name]) {
			t.Errorf("%s differs between two runs on different machines", name)
		}
		for _, leak := range []string{home1, home2, "1111", "2222"} {
			if bytes.Contains(b, []byte(leak)) {
				t.Errorf("%s contains the machine-specific value %q", name, leak)
			}
		}
	}
	for _, c := range []string{"oo.bash", "oo.zsh", "oo.fish", "oo.ps1"} {
		if len(first["completions/"+c]) == 0 {
			t.Errorf("completions/%s missing or empty", c)
		}
	}
}

// visible lists the command paths cobra/doc writes a page for.
func visible(c *cobra.Command) []string {
	out := []string{strings.ReplaceAll(c.CommandPath(), " ", "-") + "." + manSection}
	for _, sub := range c.Commands() {
		if !sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand() {
			continue
		}
		out = append(out, visible(sub)...)
	}
	return out
}

func TestOneManPagePerVisibleCommand(t *testing.T) {
	dir := t.TempDir()
	manDir := filepath.Join(dir, "man")
	if err := os.MkdirAll(manDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A page of a command that no longer exists must go; other files are left alone.
	for _, f := range []string{"oo-removed-command.1", "README"} {
		if err := os.WriteFile(filepath.Join(manDir, f), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := newRoot()
	if err := generate(cmd, filepath.Join(dir, "completions"), manDir); err != nil {
		t.Fatal(err)
	}
	want := visible(cmd)
	sort.Strings(want)
	entries, err := os.ReadDir(manDir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), "."+manSection) {
			got = append(got, e.Name())
		}
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("man pages:\n got  %v\n want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(manDir, "README")); err != nil {
		t.Errorf("non-page file was removed: %v", err)
	}
	for _, must := range []string{"oo.1", "oo-version.1", "oo-server-start.1", "oo-completion-bash.1"} {
		b, err := os.ReadFile(filepath.Join(manDir, must))
		if err != nil {
			t.Errorf("missing %s", must)
			continue
		}
		if !bytes.Contains(b, []byte(`.TH "`)) || bytes.Contains(b, []byte("Auto generated")) {
			t.Errorf("%s: unexpected header or footer:\n%s", must, b)
		}
	}
}

// TestCompletionCommand checks that `oo completion SHELL` works in the real binary's tree and
// prints exactly the committed script, so the two can never disagree.
func TestCompletionCommand(t *testing.T) {
	dir := t.TempDir()
	if err := generate(newRoot(), dir, filepath.Join(dir, "man")); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"bash": "oo.bash", "zsh": "oo.zsh", "fish": "oo.fish", "powershell": "oo.ps1"}
	for shell, file := range files {
		ios, _, out, errOut := iostreams.Test()
		f := cmdutil.NewFactory(ios)
		cmd := root.NewCmdFactory(f)
		cmd.SetArgs([]string{"completion", shell})
		if code := root.Execute(context.Background(), f, cmd); code != 0 {
			t.Fatalf("oo completion %s: exit %d: %s", shell, code, errOut)
		}
		want, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("oo completion %s differs from %s", shell, file)
		}
	}
}

// TestBinaryStaysLean guards the reason this generator is a separate program.
func TestBinaryStaysLean(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not in PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/ooctl/oo/cmd/oo").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/spf13/cobra/doc" || strings.HasPrefix(dep, "github.com/cpuguy83/go-md2man") {
			t.Errorf("the oo binary imports %s; keep man page generation in cmd/gendocs", dep)
		}
	}
}

func TestEscapeText(t *testing.T) {
	cases := map[string]string{
		"no markup":                         "no markup",
		"routes SERVER/<slug>/...":          `routes SERVER/\<slug\>/...`,
		"a `<code>` span and <x>":           "a `<code>` span and \\<x\\>",
		"text\n    source <(oo completion)": "text\n    source <(oo completion)",
		"text\n\tcat < file":                "text\n\tcat < file",
	}
	for in, want := range cases {
		if got := escapeText(in); got != want {
			t.Errorf("escapeText(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPlaceholdersSurvive checks that <placeholders> in help texts reach the man pages instead
// of being swallowed as HTML by the markdown renderer.
func TestPlaceholdersSurvive(t *testing.T) {
	dir := t.TempDir()
	cmd := newRoot()
	longs := map[string]string{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		longs[strings.ReplaceAll(c.CommandPath(), " ", "-")+"."+manSection] = c.Long
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cmd)
	if err := generate(cmd, filepath.Join(dir, "completions"), filepath.Join(dir, "man")); err != nil {
		t.Fatal(err)
	}
	placeholder := regexp.MustCompile(`<[A-Za-z][A-Za-z0-9_-]*>`)
	for page, long := range longs {
		b, err := os.ReadFile(filepath.Join(dir, "man", page))
		if err != nil {
			continue // not a visible command
		}
		for _, p := range placeholder.FindAllString(long, -1) {
			if !bytes.Contains(b, []byte(p)) {
				t.Errorf("%s lost %s from its description", page, p)
			}
		}
	}
}

func TestNormalizeMachinePaths(t *testing.T) {
	rs := []replacement{}
	for _, r := range [][2]string{{"/home/al/.local/share", "$XDG_DATA_HOME"}, {"/home/al", "$HOME"}} {
		rs = append(rs, newReplacement(r[0], r[1]))
	}
	cmd := &cobra.Command{Use: "x", Long: "data in /home/al/.local/share/oo, keys in /home/al; not /home/alice"}
	cmd.Flags().String("dir", "/home/al/.local/share/oo", "dir under /home/al")
	normalize(cmd, rs)
	if want := "data in $XDG_DATA_HOME/oo, keys in $HOME; not /home/alice"; cmd.Long != want {
		t.Errorf("Long = %q, want %q", cmd.Long, want)
	}
	f := cmd.Flags().Lookup("dir")
	if f.DefValue != "$XDG_DATA_HOME/oo" || f.Usage != "dir under $HOME" {
		t.Errorf("flag = %q, %q", f.DefValue, f.Usage)
	}
}

// oo(1) has the sections a man page reader looks for: ENVIRONMENT, FILES and EXIT STATUS, each
// before SEE ALSO; oo-server-start(1) lists the server's variables.
func TestManPagesHaveEnvironmentFilesExitStatus(t *testing.T) {
	files := genInto(t)
	page := string(files["man/oo.1"])
	see := strings.Index(page, ".SH SEE ALSO")
	for _, s := range []string{".SH ENVIRONMENT", ".SH FILES", ".SH EXIT STATUS"} {
		at := strings.Index(page, s)
		if at < 0 || (see >= 0 && at > see) {
			t.Errorf("oo.1: %s missing or after SEE ALSO", s)
		}
	}
	for _, want := range []string{"\n.B OO_URL\n", "\n.B OO_TOKEN\n", "\n.B OO_PROBE_INTERVAL\n", "config.json", "\n.B 7\n"} {
		if !strings.Contains(page, want) {
			t.Errorf("oo.1 lacks %q", want)
		}
	}
	start := string(files["man/oo-server-start.1"])
	for _, want := range []string{".SH ENVIRONMENT", "OO_ADMIN_PASSWORD", "OO_ADDR", ".SH FILES"} {
		if !strings.Contains(start, want) {
			t.Errorf("oo-server-start.1 lacks %q", want)
		}
	}
}
