// Command oo is the oo platform server and its client in one binary.
package main

import (
	"os"

	"github.com/ooctl/oo/pkg/cmd/root"
)

func main() { os.Exit(root.Main()) }
