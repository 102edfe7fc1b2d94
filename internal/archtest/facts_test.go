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

// envLiterals lists the string literals of f that are whole variable names.
func envLiterals(f *ast.File) []string {
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
// not spell out a pkg/api name again.
func envLiteralAllowed(file, name string, defined map[string]bool) bool {
	switch file {
	case "pkg/api/env.go":
		return true
	case "pkg/cmd/server/server.go":
		return !defined[name]
	}
	return false
}

// notProduct: code that is not product code: e2e, benchmarks, test harnesses (packages named
// *test) and the doc generator, which matches variable names by prefix.
func notProduct(file string) bool {
	dir := filepath.ToSlash(filepath.Dir(file))
	return strings.HasPrefix(file, "e2e/") || strings.HasPrefix(file, "bench/") ||
		strings.HasPrefix(file, "cmd/gendocs/") || strings.HasSuffix(dir, "test")
}

// productFiles calls fn with the path (relative to the module root) and parsed syntax of every
// non-test Go file of the module.
func productFiles(t *testing.T, fn func(rel string, f *ast.File)) {
	t.Helper()
	root := "../.."
	checked := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") || notProduct(rel) {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		checked++
		fn(rel, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files; the walk itself is broken", checked)
	}
}

// TestEnvNamesLiveInAPI: each environment variable name is written once, in pkg/api, so that
// the CLI, the SDK, the supervisor and `oo help environment` cannot drift apart.
func TestEnvNamesLiveInAPI(t *testing.T) {
	defined := apiEnv()
	productFiles(t, func(rel string, f *ast.File) {
		for _, name := range envLiterals(f) {
			if !envLiteralAllowed(rel, name, defined) {
				t.Errorf("%s: %q spelled out; use its pkg/api name", rel, name)
			}
		}
	})
}

// The check must be able to fail: a bare name in a CLI file and a pkg/api name in the server's
// flag file are caught; a server-only flag variable is not.
func TestEnvNamesCheckCatchesViolations(t *testing.T) {
	defined := apiEnv()
	got := envLiterals(parse(t, "package x\nvar a = os.Getenv(\"OO_TOKEN\")\nvar b = \"OO_TOKEN is prose\"\n"))
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

func parse(t *testing.T, src string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "x.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// privateFileWrites lists the calls in f that put a file in place by hand (os.CreateTemp,
// os.Rename, os.WriteFile) and the literals that spell the id alphabet.
func privateFileWrites(f *ast.File) (calls, alphabets []string) {
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && x.Name == "os" {
				switch n.Sel.Name {
				case "CreateTemp", "Rename", "WriteFile":
					calls = append(calls, "os."+n.Sel.Name)
				}
			}
		case *ast.BasicLit:
			if n.Kind == token.STRING && strings.Contains(n.Value, "0123456789ABCDEF") {
				alphabets = append(alphabets, n.Value)
			}
		}
		return true
	})
	return calls, alphabets
}

// TestOneFileWriterAndIDGenerator: files are written only by internal/atomicfile (0600, synced,
// renamed into place) and ids are drawn only by internal/randid, so neither can be done a
// weaker way somewhere else.
func TestOneFileWriterAndIDGenerator(t *testing.T) {
	productFiles(t, func(rel string, f *ast.File) {
		calls, alphabets := privateFileWrites(f)
		if !strings.HasPrefix(rel, "internal/atomicfile/") {
			for _, c := range calls {
				t.Errorf("%s calls %s; write files with internal/atomicfile", rel, c)
			}
		}
		if !strings.HasPrefix(rel, "internal/randid/") {
			for range alphabets {
				t.Errorf("%s spells an id alphabet; draw ids with internal/randid", rel)
			}
			if importsCryptoRand(f) && !randomSourceAllowed[rel] {
				t.Errorf("%s reads crypto/rand; draw ids with internal/randid", rel)
			}
		}
	})
}

// randomSourceAllowed are the files that read crypto/rand for something that is not an id: the
// signing key, the decoy password hash, and the SDK's generated passwords (base64url, a public
// function whose format programs may rely on).
var randomSourceAllowed = map[string]bool{
	"server/user/tokens.go":  true,
	"server/user/hashing.go": true,
	"pkg/sdk/account.go":     true,
}

func importsCryptoRand(f *ast.File) bool {
	for _, imp := range f.Imports {
		if imp.Path.Value == `"crypto/rand"` {
			return true
		}
	}
	return false
}

func TestOneFileWriterCheckCatchesViolations(t *testing.T) {
	calls, alphabets := privateFileWrites(parse(t, `package x
func f() { os.Rename("a", "b"); _ = os.WriteFile; const b = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" }`))
	if len(calls) != 2 || len(alphabets) != 1 {
		t.Errorf("caught calls %q and alphabets %q, want os.Rename, os.WriteFile and one alphabet", calls, alphabets)
	}
	if !importsCryptoRand(parse(t, "package x\nimport \"crypto/rand\"\n")) {
		t.Error("an import of crypto/rand was not seen")
	}
	if !notProduct("internal/proctest/proctest.go") || notProduct("internal/supervisor/supervisor.go") {
		t.Error("notProduct misjudges which packages are test harnesses")
	}
}
