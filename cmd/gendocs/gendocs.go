package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/adrg/xdg"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

	"github.com/ooctl/oo/pkg/cmd/root"
	"github.com/ooctl/oo/pkg/iostreams"
)

// manDate is the date printed in every man page header. It is fixed on purpose: a date that
// followed the clock would make the committed pages stale on every run.
var manDate = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// manSection is the man section of every page (user commands).
const manSection = "1"

// envPrefixes are the environment variables commands may read for their flag defaults. They are
// unset before the tree is built so a developer's OO_ADDR does not end up in the man pages.
var envPrefixes = []string{"OO_", "OB_", "OPENORCH_", "SELF_URL"}

// scrubEnv unsets the variables listed in envPrefixes.
func scrubEnv() {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		for _, p := range envPrefixes {
			if strings.HasPrefix(name, p) {
				os.Unsetenv(name)
				break
			}
		}
	}
}

// newRoot builds the command tree as the binary does, plus the default `completion` command that
// cobra otherwise only adds when the root is executed.
func newRoot() *cobra.Command {
	ios, _, _, _ := iostreams.Test()
	cmd := root.NewCmd(ios)
	cmd.InitDefaultCompletionCmd()
	return cmd
}

// completionFiles maps each file under the completions directory to its generator. The same
// functions back `oo completion SHELL` at run time.
var completionFiles = []struct {
	name string
	gen  func(*cobra.Command, io.Writer) error
}{
	{"oo.bash", func(c *cobra.Command, w io.Writer) error { return c.GenBashCompletionV2(w, true) }},
	{"oo.zsh", func(c *cobra.Command, w io.Writer) error { return c.GenZshCompletion(w) }},
	{"oo.fish", func(c *cobra.Command, w io.Writer) error { return c.GenFishCompletion(w, true) }},
	{"oo.ps1", func(c *cobra.Command, w io.Writer) error { return c.GenPowerShellCompletionWithDesc(w) }},
}

// generate writes the completion scripts to complDir and one man page per visible command to
// manDir, removing man pages of commands that no longer exist. Files whose content is unchanged
// are not rewritten. It edits the help texts of cmd, which must be a tree made for this call.
func generate(cmd *cobra.Command, complDir, manDir string) error {
	normalize(cmd, machineValues())

	if err := os.MkdirAll(complDir, 0o755); err != nil {
		return err
	}
	for _, f := range completionFiles {
		var buf bytes.Buffer
		if err := f.gen(cmd, &buf); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		if err := writeIfChanged(filepath.Join(complDir, f.name), buf.Bytes()); err != nil {
			return err
		}
	}

	extra := extraSections(cmd)
	escapeMarkdown(cmd)
	pages, err := renderMan(cmd)
	if err != nil {
		return err
	}
	if err := addSections(pages, extra); err != nil {
		return err
	}
	if err := os.MkdirAll(manDir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(manDir, "*."+manSection))
	if err != nil {
		return err
	}
	for _, p := range old {
		if _, keep := pages[filepath.Base(p)]; !keep {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	for name, b := range pages {
		if err := writeIfChanged(filepath.Join(manDir, name), b); err != nil {
			return err
		}
	}
	return nil
}

// renderMan renders the man pages into a scratch directory and returns them by file name.
func renderMan(cmd *cobra.Command) (map[string][]byte, error) {
	tmp, err := os.MkdirTemp("", "oo-man-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	date := manDate
	header := &doc.GenManHeader{Section: manSection, Date: &date, Source: "oo", Manual: "oo Manual"}
	if err := doc.GenManTree(cmd, header, tmp); err != nil {
		return nil, fmt.Errorf("man pages: %w", err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil, err
	}
	pages := make(map[string][]byte, len(entries))
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(tmp, e.Name()))
		if err != nil {
			return nil, err
		}
		pages[e.Name()] = b
	}
	return pages, nil
}

func writeIfChanged(path string, b []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	return os.WriteFile(path, b, 0o644)
}

// replacement turns a value that depends on the machine into the name a reader understands.
type replacement struct {
	from, to string
	re       *regexp.Regexp // from, as a whole path prefix: /home/al must not match /home/alice
}

func newReplacement(from, to string) replacement {
	return replacement{from, to, regexp.MustCompile(regexp.QuoteMeta(from) + `([^\w.-]|$)`)}
}

// machineValues lists the directories of this machine and user that flag defaults are commonly
// derived from, longest first so that $XDG_DATA_HOME wins over the $HOME it lies in.
func machineValues() []replacement {
	var rs []replacement
	add := func(from, to string) {
		if len(from) > 1 && from != string(filepath.Separator) {
			rs = append(rs, newReplacement(from, to))
		}
	}
	add(xdg.DataHome, "$XDG_DATA_HOME")
	add(xdg.ConfigHome, "$XDG_CONFIG_HOME")
	add(xdg.StateHome, "$XDG_STATE_HOME")
	add(xdg.CacheHome, "$XDG_CACHE_HOME")
	add(xdg.RuntimeDir, "$XDG_RUNTIME_DIR")
	if d, err := os.UserConfigDir(); err == nil {
		add(d, "$XDG_CONFIG_HOME")
	}
	if d, err := os.UserCacheDir(); err == nil {
		add(d, "$XDG_CACHE_HOME")
	}
	if d, err := os.UserHomeDir(); err == nil {
		add(d, "$HOME")
	}
	if d, err := os.Getwd(); err == nil {
		add(d, ".")
	}
	sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].from) > len(rs[j].from) })
	return rs
}

// normalize makes the generated text independent of the machine: machine paths in flag defaults,
// flag descriptions and help texts become $HOME, $XDG_… or "."; cobra's "auto generated" footer
// is dropped.
func normalize(cmd *cobra.Command, rs []replacement) {
	fix := func(s string) string {
		for _, r := range rs {
			s = r.re.ReplaceAllString(s, strings.ReplaceAll(r.to, "$", "$$")+"${1}")
		}
		return s
	}
	fixFlag := func(f *pflag.Flag) {
		f.DefValue = fix(f.DefValue)
		f.Usage = fix(f.Usage)
	}
	cmd.DisableAutoGenTag = true
	cmd.Long = fix(cmd.Long)
	cmd.Short = fix(cmd.Short)
	cmd.Example = fix(cmd.Example)
	cmd.LocalFlags().VisitAll(fixFlag)
	cmd.PersistentFlags().VisitAll(fixFlag)
	cmd.Flags().VisitAll(fixFlag)
	for _, c := range cmd.Commands() {
		normalize(c, rs)
	}
}

// escapeText protects the characters that cobra/doc's markdown renderer would otherwise take
// for inline HTML, so "<slug>" in a help text does not vanish from the man page. Indented lines
// (code blocks) and `code spans` are literal in markdown and left alone.
func escapeText(s string) string {
	if !strings.ContainsAny(s, "<>") {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "    ") {
			continue
		}
		parts := strings.Split(line, "`")
		for j := 0; j < len(parts); j += 2 {
			parts[j] = strings.NewReplacer("<", "\\<", ">", "\\>").Replace(parts[j])
		}
		lines[i] = strings.Join(parts, "`")
	}
	return strings.Join(lines, "\n")
}

// escapeMarkdown prepares the help texts of cmd and its descendants for the man renderer, which
// reads them as markdown. Examples are left alone: they are rendered as code blocks.
func escapeMarkdown(cmd *cobra.Command) {
	esc := func(f *pflag.Flag) { f.Usage = escapeText(f.Usage) }
	cmd.Short = escapeText(cmd.Short)
	cmd.Long = escapeText(cmd.Long)
	cmd.LocalFlags().VisitAll(esc)
	cmd.PersistentFlags().VisitAll(esc)
	for _, c := range cmd.Commands() {
		escapeMarkdown(c)
	}
}
