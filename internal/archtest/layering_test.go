// Package archtest enforces the dependency rules of docs/architecture.md (and DESIGN's §3 and
// §5): they hold only as long as something fails when they are broken.
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
	Imports    []string // direct, non-test
	Deps       []string // transitive, non-test
}

// packages lists the module's packages with their direct and transitive non-test imports.
func packages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", mod+"/...")
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

// in reports whether path is mod/rel or below it, for any of rels.
func in(path string, rels ...string) bool {
	for _, r := range rels {
		if under(path, mod+"/"+r) {
			return true
		}
	}
	return false
}

func isStd(path string) bool { return !strings.Contains(strings.Split(path, "/")[0], ".") }

// Groups of packages the rules speak of.
var (
	// The command tree, its plumbing and the app-private state only the CLI uses.
	isCLI = func(p string) bool {
		return in(p, "pkg/cmd", "pkg/cmdutil", "pkg/iostreams", "internal/config", "internal/credstore", "internal/tableprinter")
	}
	// What assembles the whole tree, server command included, or drives it in tests.
	assemblesCLI = func(p string) bool {
		return in(p, "pkg/cmd/server", "pkg/cmd/root", "pkg/cmd/cmdtest")
	}
	// Libraries only a terminal program wants.
	isCLILib = func(p string) bool {
		return under(p, "github.com/spf13") || under(p, "github.com/zalando/go-keyring") ||
			under(p, "github.com/charmbracelet") || under(p, "github.com/olekukonko") || under(p, "github.com/itchyny/gojq")
	}
	isBolt     = func(p string) bool { return under(p, "go.etcd.io/bbolt") }
	isEtcd     = func(p string) bool { return under(p, "go.etcd.io/etcd") }
	isServer   = func(p string) bool { return in(p, "server") }
	isAppState = func(p string) bool {
		return in(p, "internal/config", "internal/credstore")
	}
	isTestUtils = func(p string) bool { return strings.HasSuffix(p, "test") }
)

// rule is one dependency rule: bad reports whether from may not depend on imp. A transitive
// rule is checked against everything from depends on, a direct one against what it imports.
// example is a dependency the rule forbids, so each rule is shown to be able to fail.
type rule struct {
	name       string
	transitive bool
	bad        func(from, imp string) bool
	example    [2]string
}

var rules = []rule{
	// Where bbolt and the server may be reached.
	{"only server/store/bolt imports bbolt", false, func(from, imp string) bool {
		return isBolt(imp) && from != mod+"/server/store/bolt"
	}, [2]string{mod + "/server/user", "go.etcd.io/bbolt"}},
	{"only server/store/etcd (and internal/etcdtest, the tests' etcd) imports the etcd client", false, func(from, imp string) bool {
		return isEtcd(imp) && !in(from, "server/store/etcd", "internal/etcdtest")
	}, [2]string{mod + "/server/registry", "go.etcd.io/etcd/client/v3"}},
	{"internal/etcdtest is for tests: only test harnesses reach it", true, func(from, imp string) bool {
		return in(imp, "internal/etcdtest") && !isTestUtils(from)
	}, [2]string{mod + "/server/store/etcd", mod + "/internal/etcdtest"}},
	{"only pkg/cmd/server (and the server itself) imports the server", false, func(from, imp string) bool {
		return isServer(imp) && !isServer(from) && from != mod+"/pkg/cmd/server"
	}, [2]string{mod + "/pkg/cmd/auth", mod + "/server/user"}},
	{"no CLI package reaches the server or bbolt, but pkg/cmd/server and what assembles the tree", true, func(from, imp string) bool {
		return isCLI(from) && !assemblesCLI(from) && (isServer(imp) || isBolt(imp))
	}, [2]string{mod + "/pkg/cmdutil", "go.etcd.io/bbolt"}},

	// The wire types and the clients services embed.
	{"pkg/api is standard library only, transitively", true, func(from, imp string) bool {
		return from == mod+"/pkg/api" && !isStd(imp)
	}, [2]string{mod + "/pkg/api", "github.com/spf13/cobra"}},
	{"pkg/client reaches only pkg/api and the standard library", true, func(from, imp string) bool {
		return from == mod+"/pkg/client" && !isStd(imp) && imp != mod+"/pkg/api"
	}, [2]string{mod + "/pkg/client", mod + "/internal/config"}},
	{"pkg/sdk reaches no keyring, cobra, bbolt, server or CLI package", true, func(from, imp string) bool {
		return in(from, "pkg/sdk") && (isCLILib(imp) || isBolt(imp) || isServer(imp) || isCLI(imp) || isAppState(imp))
	}, [2]string{mod + "/pkg/sdk", "github.com/zalando/go-keyring"}},
	{"services and the server never reach the CLI", true, func(from, imp string) bool {
		client := isServer(from) && !isTestUtils(from) || in(from, "pkg/sdk", "pkg/client", "pkg/api")
		return client && (isCLI(imp) || isAppState(imp) || isCLILib(imp))
	}, [2]string{mod + "/server/proxy", mod + "/pkg/cmdutil"}},
	{"the server reaches nothing of pkg/ but pkg/api", true, func(from, imp string) bool {
		return isServer(from) && !isTestUtils(from) && in(imp, "pkg") && imp != mod+"/pkg/api"
	}, [2]string{mod + "/server/registry", mod + "/pkg/client"}},

	// The CLI's own layers.
	{"internal/supervisor reaches no CLI package (no cobra, no cmdutil, config or credstore)", true, func(from, imp string) bool {
		return in(from, "internal/supervisor") && (isCLI(imp) || isAppState(imp) || isCLILib(imp))
	}, [2]string{mod + "/internal/supervisor", "github.com/spf13/cobra"}},
	{"pkg/iostreams is the bottom of the CLI: it reaches no package of the module", true, func(from, imp string) bool {
		return from == mod+"/pkg/iostreams" && under(imp, mod)
	}, [2]string{mod + "/pkg/iostreams", mod + "/pkg/api"}},
	{"pkg/cmdutil is plumbing below the commands: it reaches no pkg/cmd package", true, func(from, imp string) bool {
		return from == mod+"/pkg/cmdutil" && in(imp, "pkg/cmd")
	}, [2]string{mod + "/pkg/cmdutil", mod + "/pkg/cmd/auth"}},
	{"one package per noun: only pkg/cmd/root (and pkg/cmd/cmdtest, which drives it) assembles them (a noun imports no other pkg/cmd package)", false, func(from, imp string) bool {
		return in(from, "pkg/cmd") && !in(from, "pkg/cmd/root", "pkg/cmd/cmdtest") && in(imp, "pkg/cmd")
	}, [2]string{mod + "/pkg/cmd/service", mod + "/pkg/cmd/auth"}},

	// Inside the server (DESIGN §3, docs/architecture.md).
	{"server/store is the bottom: it reaches no other server package", true, func(from, imp string) bool {
		return from == mod+"/server/store" && isServer(imp)
	}, [2]string{mod + "/server/store", mod + "/server/apierr"}},
	{"the store implementations reach no server package but server/store", true, func(from, imp string) bool {
		return in(from, "server/store/bolt", "server/store/etcd") && isServer(imp) && imp != mod+"/server/store"
	}, [2]string{mod + "/server/store/etcd", mod + "/server/registry"}},
	{"the HTTP surface is on top: inside the server only server.go (and the test harnesses) reach server/httpapi", true, func(from, imp string) bool {
		return isServer(from) && imp == mod+"/server/httpapi" && from != mod+"/server" && !isTestUtils(from)
	}, [2]string{mod + "/server/registry", mod + "/server/httpapi"}},
	{"accounts and instances are separate: server/user and server/registry do not reach each other", true, func(from, imp string) bool {
		return in(from, "server/user") && in(imp, "server/registry") || in(from, "server/registry") && in(imp, "server/user")
	}, [2]string{mod + "/server/registry", mod + "/server/user"}},
	{"the proxy reads the published route table, never the store or the user service", false, func(from, imp string) bool {
		return in(from, "server/proxy") && !isTestUtils(from) && in(imp, "server/store", "server/user", "server/health")
	}, [2]string{mod + "/server/proxy", mod + "/server/store"}},
	{"the proxy never reaches accounts: server/proxy does not depend on server/user", true, func(from, imp string) bool {
		return in(from, "server/proxy") && in(imp, "server/user")
	}, [2]string{mod + "/server/proxy", mod + "/server/user"}},
	{"health probes know nothing of storage or accounts", true, func(from, imp string) bool {
		return in(from, "server/health") && in(imp, "server/store", "server/user", "server/registry")
	}, [2]string{mod + "/server/health", mod + "/server/store"}},
}

// violations lists the rules p breaks.
func violations(p pkg) []string {
	var out []string
	for _, r := range rules {
		deps, verb := p.Imports, " imports "
		if r.transitive {
			deps, verb = p.Deps, " depends on "
		}
		for _, imp := range deps {
			if r.bad(p.ImportPath, imp) {
				out = append(out, r.name+": "+p.ImportPath+verb+imp)
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

// The rules must be able to fail: each one catches the dependency it names as its example,
// given as a direct import (every rule sees those) or, for a transitive rule, only as a
// dependency of a dependency.
func TestLayeringRulesCatchViolations(t *testing.T) {
	for _, r := range rules {
		from, imp := r.example[0], r.example[1]
		p := pkg{ImportPath: from, Imports: []string{imp}, Deps: []string{imp}}
		if !strings.Contains(strings.Join(violations(p), "\n"), r.name+": ") {
			t.Errorf("rule %q does not catch its example %s → %s", r.name, from, imp)
		}
		if r.transitive {
			// Reached only through another package: a direct-only check would miss it.
			p = pkg{ImportPath: from, Imports: []string{"strings"}, Deps: []string{"strings", imp}}
			if !strings.Contains(strings.Join(violations(p), "\n"), r.name+": ") {
				t.Errorf("transitive rule %q misses %s reaching %s indirectly", r.name, from, imp)
			}
		}
	}
}

// Every CLI package and every server package is named by at least one rule as a package that
// could break it, so a new package in those trees is not outside the rules by accident.
func TestEveryCLIAndServerPackageIsCovered(t *testing.T) {
	probes := []string{"go.etcd.io/bbolt", mod + "/server/user", mod + "/server/httpapi", mod + "/pkg/cmd/auth", mod + "/pkg/client", "github.com/spf13/cobra"}
	for _, p := range packages(t) {
		if !(isCLI(p.ImportPath) || isServer(p.ImportPath) || in(p.ImportPath, "pkg/sdk", "pkg/client", "pkg/api", "internal/supervisor")) {
			continue
		}
		covered := false
		for _, imp := range probes {
			if len(violations(pkg{ImportPath: p.ImportPath, Imports: []string{imp}, Deps: []string{imp}})) > 0 {
				covered = true
				break
			}
		}
		if !covered {
			t.Errorf("%s is not constrained by any rule", p.ImportPath)
		}
	}
}
