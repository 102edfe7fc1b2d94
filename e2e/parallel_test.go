package e2e

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryTestIsParallel: each test of this package starts with t.Parallel(), so the suite
// takes about as long as its longest test instead of the sum of them all. Every test has its
// own server, port, HOME and data dir (newEnv, StartServer); a test that cannot share the
// process (one that changes its environment, say) says why in a comment holding "serial:".
func TestEveryTestIsParallel(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*_test.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") || fn.Name.Name == "TestMain" {
				continue
			}
			checked++
			if fn.Doc != nil && strings.Contains(fn.Doc.Text(), "serial:") {
				continue
			}
			if !startsParallel(fn) {
				t.Errorf("%s: %s does not start with t.Parallel() (or say why not with \"serial:\" in its comment)", fset.Position(fn.Pos()), fn.Name.Name)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d tests; is the file pattern right?", checked)
	}
}

// startsParallel reports whether fn's first statement is t.Parallel().
func startsParallel(fn *ast.FuncDecl) bool {
	if fn.Body == nil || len(fn.Body.List) == 0 {
		return false
	}
	es, ok := fn.Body.List[0].(*ast.ExprStmt)
	if !ok {
		return false
	}
	call, ok := es.X.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Parallel" && len(call.Args) == 0
}
