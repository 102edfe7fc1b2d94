package credstore

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// Several oo processes share one credentials file (parallel `oo service run --insecure-storage`).
// Each File value here stands for one process: its own mutex, its own open of the lock file, so
// only the lock between processes keeps one from writing back a copy without the others' entries.
func TestFileConcurrentWritersLoseNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials.json")
	const writers = 16
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := NewFile(path)
			for j := range 5 {
				if err := f.Set("local", fmt.Sprintf("svc-%d-%d", i, j), "tok"); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	f := NewFile(path)
	for i := range writers {
		for j := range 5 {
			if _, err := f.Get("local", fmt.Sprintf("svc-%d-%d", i, j)); err != nil {
				t.Errorf("svc-%d-%d lost: %v", i, j, err)
			}
		}
	}
}
