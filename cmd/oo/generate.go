package main

// Shell completions and man pages are generated from the command tree by a separate program, so
// that the man page renderer stays out of the oo binary. CI fails when they are stale.
//go:generate go run ../gendocs -completions ../../completions -man ../../man
