package root_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmd/root"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

// `oo help environment` lists every client variable and, for every flag of `oo server start`,
// the variable that sets it. A server flag added without a variable fails here: scripts and
// systemd units configure the server through the environment.
func TestHelpEnvironmentCoversEveryVariable(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "")
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "help", "environment"), "help environment")
	for _, v := range api.ClientEnv {
		if !strings.Contains(r.Out, v.Name+" ") {
			t.Errorf("help environment lacks %s", v.Name)
		}
	}
	ios, _, _, _ := iostreams.Test()
	tree := root.NewCmd(ios)
	start, _, err := tree.Find([]string{"server", "start"})
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]string{}
	for _, sv := range root.ServerEnv(tree) {
		named[sv.Flag] = sv.Name
	}
	start.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		env, ok := named[f.Name]
		if !ok {
			t.Errorf("oo server start --%s names no OO_* variable at the end of its help: %q", f.Name, f.Usage)
			return
		}
		if !strings.Contains(r.Out, fmt.Sprintf("%s", env)) || !strings.Contains(r.Out, "--"+f.Name) {
			t.Errorf("help environment lacks %s (--%s)", env, f.Name)
		}
	})
	if len(named) < 5 {
		t.Fatalf("found only %d server variables: %v", len(named), named)
	}
}

// Every variable the CLI, SDK and supervisor code reads is in api.ClientEnv or is a server
// flag's: a literal OO_ name in the client code that help does not list fails here.
func TestEveryClientVariableIsDocumented(t *testing.T) {
	t.Parallel()
	known := map[string]bool{}
	for _, v := range api.ClientEnv {
		known[v.Name] = true
	}
	for _, dir := range []string{"../../cmdutil", "../../sdk", "../../config", "../../credstore", "../service", "../call"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // moved or renamed: the other directories still count
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			b, err := os.ReadFile(dir + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range envLiterals(string(b)) {
				if !known[name] {
					t.Errorf("%s/%s reads %s, which oo help environment does not list (add it to api.ClientEnv)", dir, e.Name(), name)
				}
			}
		}
	}
}

// envLiterals finds "OO_..." string literals.
func envLiterals(src string) []string {
	var out []string
	for _, part := range strings.Split(src, `"OO_`)[1:] {
		end := strings.IndexAny(part, "\"=")
		if end < 0 || part[end] != '"' {
			continue
		}
		name := "OO_" + part[:end]
		if strings.Trim(name[3:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == "" && len(name) > 3 {
			out = append(out, name)
		}
	}
	return out
}

func TestHelpExitCodes(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "")
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "help", "exit-codes"), "help exit-codes")
	for _, c := range cmdutil.ExitCodes {
		if !strings.Contains(r.Out, fmt.Sprintf("  %d  %s", c.Code, c.Doc)) {
			t.Errorf("help exit-codes lacks %d", c.Code)
		}
	}
	if root := h.Run(cmdtest.Piped, "", "--help"); !strings.Contains(root.Out, "oo exit-codes") || !strings.Contains(root.Out, "oo environment") {
		t.Errorf("root help does not list the help topics:\n%s", root.Out)
	}
}
