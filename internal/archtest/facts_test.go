package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
)

// envName is a string literal that is, whole, the name of one of oo's environment variables.
var envName = regexp.MustCompile(`^(OO_[A-Z0-9_]+|OB_URL|OPENORCH_URL|SELF_URL)$`)

// envLiterals lists the string literals of the Go file src that are whole variable names.
func envLiterals(t *testing.T, name string, src []byte) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil && envName.MatchString(s) {
				out = append(out, s)
			}
		}
		return true
	})
	return out
}

// apiEnv is every name pkg/api defines.
func apiEnv() map[string]bool {
	names := map[string]bool{}
	for _, v := range api.ClientEnv {
		names[v.Name] = true
	}
	return names
}

// envLiteralAllowed: only pkg/api names the variables the CLI, the SDK and supervised programs
// read. The server's own flags name their variable beside the flag (pkg/cmd/server), which may
// not spell out a pkg/api name again. Test-only code (e2e, benchmarks, the keyring and
// process-ownership test harnesses) and the doc generator, which matches prefixes, are not product code.
func envLiteralAllowed(file, name string, defined map[string]bool) bool {
	switch {
	case file == "pkg/api/env.go":
		return true
	case file == "pkg/cmd/server/server.go":
		return !defined[name]
	case strings.HasPrefix(file, "e2e/"), strings.HasPrefix(file, "bench/"),
		strings.HasPrefix(file, "internal/keyringtest/"), strings.HasPrefix(file, "internal/proctest/"),
		strings.HasPrefix(file, "cmd/gendocs/"):
		return true
	}
	return false
}

// TestEnvNamesLiveInAPI: each environment variable name is written once, in pkg/api, so that
// the CLI, the SDK, the supervisor and `oo help environment` cannot drift apart.
func TestEnvNamesLiveInAPI(t *testing.T) {
	defined := apiEnv()
	root := "../.."
	checked := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "testdata" && !strings.HasPrefix(rel, "e2e/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for _, name := range envLiterals(t, rel, src) {
			if !envLiteralAllowed(rel, name, defined) {
				t.Errorf("%s: %q spelled out; use its pkg/api name", rel, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files; the walk itself is broken", checked)
	}
}

// The check must be able to fail: a bare name in a CLI file and a pkg/api name in the server's
// flag file are caught; a server-only flag variable is not.
func TestEnvNamesCheckCatchesViolations(t *testing.T) {
	defined := apiEnv()
	src := []byte("package x\nvar a = os.Getenv(\"OO_TOKEN\")\nvar b = \"OO_TOKEN is prose\"\n")
	got := envLiterals(t, "x.go", src)
	if len(got) != 1 || got[0] != "OO_TOKEN" {
		t.Fatalf("envLiterals = %q, want only the bare name", got)
	}
	if envLiteralAllowed("pkg/cmdutil/factory.go", "OO_TOKEN", defined) {
		t.Error("a bare OO_TOKEN in pkg/cmdutil was allowed")
	}
	if envLiteralAllowed("pkg/cmd/server/server.go", api.EnvAdminPass, defined) {
		t.Error("a pkg/api name spelled out in pkg/cmd/server was allowed")
	}
	if !envLiteralAllowed("pkg/cmd/server/server.go", "OO_ADDR", defined) {
		t.Error("a server flag's own variable was refused")
	}
}
