package atomicfile

import (
	"os"
	"path/filepath"
)

// Lock takes an exclusive lock that other processes honour for path (on path+".lock", since
// Write replaces path's inode) and returns its release. It guards a read-modify-write of a file
// that several oo processes update, such as the stored tokens of --insecure-storage: two
// `oo service run` starting at once must not each write back a copy without the other's entry.
func Lock(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = unlockFile(f)
		f.Close()
	}, nil
}
