package registry

import (
	"testing"
)

// A cursor names its key exactly, whatever the URL holds, and anything else is a 400.
func TestCursorRoundTrip(t *testing.T) {
	for _, k := range []listKey{
		{"a-svc", "http://127.0.0.1:1", "inst_1"},
		{"a", "http://[::1]:1/p?q=\x01", "x"},
		{"", "", ""},
	} {
		got, err := parseCursor(k.cursor())
		if err != nil || got != k {
			t.Errorf("cursor of %q parsed back as %q, %v", k, got, err)
		}
	}
	for _, c := range []string{"x", "MQ", "MQA", "!!", "MgBhAGIAYw"} {
		if _, err := parseCursor(c); err == nil {
			t.Errorf("cursor %q accepted", c)
		}
	}
}
