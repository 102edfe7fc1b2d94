package registry

import (
	"regexp"
	"testing"
	"time"

	"github.com/ooctl/oo/server/apierr"
)

var idRule = regexp.MustCompile(`^[A-Za-z0-9_-]{0,64}$`)

// FuzzValidID: an instance id is at most 64 of [A-Za-z0-9_-] (empty means "generate one"), so
// it is a path segment that needs no escaping.
func FuzzValidID(f *testing.F) {
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := validID(id), idRule.MatchString(id); got != want {
			t.Fatalf("validID(%q) = %v, want %v", id, got, want)
		}
	})
}

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
