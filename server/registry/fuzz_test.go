package registry

import (
	"testing"
	"time"

	"github.com/ooctl/oo/server/apierr"
)

// FuzzParseTTL: a TTL is empty (none) or a positive Go duration, returned exactly; anything
// else is a 400.
func FuzzParseTTL(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseTTL(s)
		want, perr := time.ParseDuration(s)
		switch {
		case s == "":
			if d != 0 || err != nil {
				t.Fatalf("parseTTL(\"\") = %v, %v", d, err)
			}
		case perr != nil || want <= 0:
			if err == nil || apierr.Status(err) != 400 {
				t.Fatalf("parseTTL(%q) = %v, %v; want a 400", s, d, err)
			}
		case err != nil || d != want:
			t.Fatalf("parseTTL(%q) = %v, %v; want %v", s, d, err, want)
		}
	})
}
