package supervisor

import (
	"bytes"
	"sync"
	"testing"
)

func TestPrefixWriterWholeLines(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	w := &prefixWriter{mu: &mu, w: &out, prefix: "[a-1] "}
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\nthree"))
	w.Flush()
	if got, want := out.String(), "[a-1] one\n[a-1] two\n[a-1] three\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
