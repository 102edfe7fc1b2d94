//go:build !unix

package atomicfile

import "os"

// Elsewhere (Windows) the lock is per process only: the in-process mutex of the callers still
// serialises one oo, and concurrent oo processes sharing --insecure-storage there are rare.
func lockFile(*os.File) error   { return nil }
func unlockFile(*os.File) error { return nil }
