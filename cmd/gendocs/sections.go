package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmd/root"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// files are the FILES section of oo(1): everything oo reads or writes outside the keyring.
var files = []struct{ path, doc string }{
	{"$XDG_CONFIG_HOME/oo/config.json", "environments (name, server URL, selected account); mode 0600. $OO_CONFIG_DIR moves it."},
	{"$XDG_CONFIG_HOME/oo/credentials.json", "tokens, only with --insecure-storage or OO_INSECURE_STORAGE=1; mode 0600. Otherwise tokens live in the OS keyring (service \"oo\", account ENV/SLUG)."},
	{"$XDG_DATA_HOME/oo/oo.db", "the server's database (bbolt), under --data-dir."},
	{"$XDG_DATA_HOME/oo/services/", "passwords of service accounts that services and oo service run created for themselves; mode 0600."},
}

// tagged is one .TP paragraph of a man section.
type tagged struct{ tag, text string }

func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func section(title string, font string, items []tagged) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".SH %s\n", title)
	for _, it := range items {
		fmt.Fprintf(&b, ".TP\n%s %s\n%s\n", font, roffEscape(it.tag), roffEscape(it.text))
	}
	return b.String()
}

func environmentItems(cmd *cobra.Command, client bool) []tagged {
	var out []tagged
	if client {
		for _, v := range api.ClientEnv {
			out = append(out, tagged{v.Name, v.Doc + " (" + v.Who + ")"})
		}
	}
	for _, sv := range root.ServerEnv(cmd) {
		out = append(out, tagged{sv.Name, "the default of oo server start --" + sv.Flag + " (server)"})
	}
	return out
}

// extraSections returns, by page name, the sections that cobra/doc does not generate:
// ENVIRONMENT, FILES and EXIT STATUS for oo(1), ENVIRONMENT and FILES for oo-server-start(1).
func extraSections(cmd *cobra.Command) map[string]string {
	var codes []tagged
	for _, c := range cmdutil.ExitCodes {
		codes = append(codes, tagged{fmt.Sprint(c.Code), c.Doc})
	}
	var fs []tagged
	for _, f := range files {
		fs = append(fs, tagged{f.path, f.doc})
	}
	serverEnv := append([]tagged{{api.EnvAdminPass, "password of the admin account created on first boot; ignored (with a warning) once it exists"}},
		environmentItems(cmd, false)...)
	return map[string]string{
		"oo.1":              section("ENVIRONMENT", ".B", environmentItems(cmd, true)) + section("FILES", ".I", fs) + section("EXIT STATUS", ".B", codes),
		"oo-server-start.1": section("ENVIRONMENT", ".B", serverEnv) + section("FILES", ".I", fs[2:3]),
	}
}

// addSections puts each page's extra sections before SEE ALSO (or at the end).
func addSections(pages map[string][]byte, extra map[string]string) error {
	for name, text := range extra {
		page, ok := pages[name]
		if !ok {
			return fmt.Errorf("man page %s not generated", name)
		}
		at := bytes.Index(page, []byte(".SH SEE ALSO"))
		if at < 0 {
			at = len(page)
		}
		out := append([]byte{}, page[:at]...)
		out = append(out, text...)
		pages[name] = append(out, page[at:]...)
	}
	return nil
}
