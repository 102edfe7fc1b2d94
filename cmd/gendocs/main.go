// Command gendocs writes the shell completion scripts and man pages of oo from its cobra command
// tree. It is run by `go generate ./...` (see cmd/oo/generate.go) and is a separate program so
// that cobra/doc and its markdown-to-man renderer never end up in the oo binary.
//
// Usage:
//
//	go run ./cmd/gendocs -completions completions -man man
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	complDir := flag.String("completions", "completions", "directory for the shell completion scripts")
	manDir := flag.String("man", "man", "directory for the man pages (stale *.1 files are removed)")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "gendocs: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	scrubEnv()
	if err := generate(newRoot(), *complDir, *manDir); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
