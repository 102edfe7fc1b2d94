package bolt_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ooctl/oo/server/store"
	"github.com/ooctl/oo/server/store/bolt"
)

func openTemp(t *testing.T) (*bolt.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "oo.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	_, path := openTemp(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("db file mode = %o, want 600", mode)
	}
}

func TestSecondOpenFailsFastWithErrLocked(t *testing.T) {
	_, path := openTemp(t)
	start := time.Now()
	st2, err := bolt.Open(path, bolt.Options{LockTimeout: 200 * time.Millisecond})
	if err == nil {
		st2.Close()
		t.Fatal("second Open of a held file succeeded")
	}
	if !errors.Is(err, store.ErrLocked) {
		t.Errorf("err = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open took %s", d)
	}
}

func TestPutMetaIfAbsentKeepsFirstValue(t *testing.T) {
	st, _ := openTemp(t)
	if _, err := st.GetMeta("k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetMeta on empty store: %v, want ErrNotFound", err)
	}
	got, err := st.PutMetaIfAbsent("k", []byte("first"))
	if err != nil || string(got) != "first" {
		t.Fatalf("first put = %q, %v", got, err)
	}
	got, err = st.PutMetaIfAbsent("k", []byte("second"))
	if err != nil || string(got) != "first" {
		t.Fatalf("second put = %q, %v; want the first value kept", got, err)
	}
	raw, err := st.GetMeta("k")
	if err != nil || string(raw) != "first" {
		t.Fatalf("GetMeta = %q, %v", raw, err)
	}
}
