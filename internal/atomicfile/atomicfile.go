// Package atomicfile is the one way the repository writes a private file: config, stored
// tokens, service account passwords and the token file `oo service run` shares with its
// programs.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data, mode 0600: a temp file in the same directory, synced, then
// renamed over path, so a reader or a crash sees the old file or the new one, never half of
// one, and the data is never readable by others, not even for a moment. The directory is
// created 0700 when missing (an existing one keeps its mode).
func Write(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this is a no-op
	// CreateTemp makes the file 0600; Chmod makes sure whatever the umask or platform.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
