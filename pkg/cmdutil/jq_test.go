package cmdutil

import (
	"bytes"
	"strings"
	"testing"
)

// Documents are filtered one by one as they arrive (a --watch stream), large integers stay exact,
// strings come out raw.
func TestJQWriterStream(t *testing.T) {
	var out bytes.Buffer
	w, err := NewJQWriter(".n, .s", &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{`{"n": 9007199254740993, "s": "a b"}`, "\n", `{"n": 2, "s": "c"}` + "\n"} {
		if _, err := w.Write([]byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "9007199254740993\na b\n2\nc\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestJQWriterErrors(t *testing.T) {
	if _, err := NewJQWriter(".[", &bytes.Buffer{}); ExitCode(err) != ExitUsage {
		t.Fatalf("bad expression: %v (exit %d)", err, ExitCode(err))
	}
	w, _ := NewJQWriter(".", &bytes.Buffer{})
	w.Write([]byte("not json"))
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("non-JSON input: %v", err)
	}
}
