// Package archtest enforces the dependency rules of docs/architecture.md: they hold only as long
// as something fails when they are broken.
package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/ooctl/oo"

type pkg struct {
	ImportPath string
	Imports    []string
}

// packages lists the module's packages with their direct, non-test imports.
func packages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", mod+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages; the check itself is broken", len(pkgs))
	}
	return pkgs
}

func under(path, prefix string) bool { return path == prefix || strings.HasPrefix(path, prefix+"/") }

func isStd(path string) bool { return !strings.Contains(strings.Split(path, "/")[0], ".") }

// rule is one dependency rule: bad reports whether importer may not import imp.
type rule struct {
	name string
	bad  func(importer, imp string) bool
}

var rules = []rule{
	{"only server/store imports bbolt", func(from, imp string) bool {
		return under(imp, "go.etcd.io/bbolt") && from != mod+"/server/store"
	}},
	{"only pkg/cmd/server (and the server itself) imports the server", func(from, imp string) bool {
		return under(imp, mod+"/server") && !under(from, mod+"/server") && from != mod+"/pkg/cmd/server"
	}},
	{"the server imports nothing of pkg/ but pkg/api", func(from, imp string) bool {
		return under(from, mod+"/server") && under(imp, mod+"/pkg") && imp != mod+"/pkg/api"
	}},
	{"pkg/api is standard library only", func(from, imp string) bool {
		return from == mod+"/pkg/api" && !isStd(imp)
	}},
	{"pkg/client imports only pkg/api and the standard library", func(from, imp string) bool {
		return from == mod+"/pkg/client" && !isStd(imp) && imp != mod+"/pkg/api"
	}},
	{"services and the server never import the CLI", func(from, imp string) bool {
		cli := under(imp, mod+"/pkg/cmd") || under(imp, mod+"/pkg/cmdutil") || imp == mod+"/pkg/credstore" || imp == mod+"/pkg/config"
		return cli && (under(from, mod+"/server") || under(from, mod+"/pkg/sdk") || under(from, mod+"/pkg/client") || under(from, mod+"/pkg/api"))
	}},
	{"internal/supervisor runs programs for the CLI without depending on it (no cobra, no cmdutil)", func(from, imp string) bool {
		cli := under(imp, "github.com/spf13") || under(imp, mod+"/pkg/cmd") || under(imp, mod+"/pkg/cmdutil") || imp == mod+"/pkg/credstore" || imp == mod+"/pkg/config"
		return under(from, mod+"/internal/supervisor") && cli
	}},
}

// violations lists the rules p breaks.
func violations(p pkg) []string {
	var out []string
	for _, imp := range p.Imports {
		for _, r := range rules {
			if r.bad(p.ImportPath, imp) {
				out = append(out, r.name+": "+p.ImportPath+" imports "+imp)
			}
		}
	}
	return out
}

func TestLayering(t *testing.T) {
	for _, p := range packages(t) {
		for _, v := range violations(p) {
			t.Error(v)
		}
	}
}

// The rules must be able to fail: each is checked against an import it forbids.
func TestLayeringRulesCatchViolations(t *testing.T) {
	for from, imp := range map[string]string{
		mod + "/server/user":         "go.etcd.io/bbolt",
		mod + "/pkg/cmd/auth":        mod + "/server/user",
		mod + "/server/proxy":        mod + "/pkg/cmdutil",
		mod + "/pkg/api":             "github.com/spf13/cobra",
		mod + "/pkg/client":          mod + "/pkg/config",
		mod + "/pkg/sdk":             mod + "/pkg/credstore",
		mod + "/internal/supervisor": "github.com/spf13/cobra",
	} {
		caught := len(violations(pkg{ImportPath: from, Imports: []string{imp}})) > 0
		if !caught {
			t.Errorf("%s importing %s was not caught", from, imp)
		}
	}
}
