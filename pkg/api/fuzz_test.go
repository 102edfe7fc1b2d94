package api

import (
	"regexp"
	"strings"
	"testing"
)

// slugRule is CheckSlug's documented rule written independently of its loop: lowercase letters,
// digits and '-', 1–63 characters, no '-' at either end.
var slugRule = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// FuzzCheckSlug: CheckSlug accepts exactly the documented slugs, an accepted slug is a single
// path segment addressing itself (so the proxy routes it to its owner and never to the API),
// and the error message stays bounded whatever the input's length (it is echoed to clients).
func FuzzCheckSlug(f *testing.F) {
	f.Fuzz(func(t *testing.T, slug string) {
		err := CheckSlug(slug)
		want := slugRule.MatchString(slug) && !ReservedSlugs[slug]
		if (err == nil) != want {
			t.Fatalf("CheckSlug(%q) = %v, want accepted=%v", slug, err, want)
		}
		if err != nil {
			// %q may write each of at most MaxSlugLen bytes as \xNN; longer input is cut.
			if len(err.Error()) > 4*MaxSlugLen+100 {
				t.Fatalf("CheckSlug(%d bytes): message of %d bytes echoes the input", len(slug), len(err.Error()))
			}
			return
		}
		seg, reserved := FirstSegment("/" + slug + "/x")
		if seg != slug || reserved {
			t.Fatalf("accepted slug %q: FirstSegment = %q, reserved %v", slug, seg, reserved)
		}
	})
}

// FuzzFirstSegment: the segment is the path's first segment (no '/', and the path is that
// segment plus an optional rest), and "reserved" means exactly "in ReservedSlugs".
func FuzzFirstSegment(f *testing.F) {
	f.Fuzz(func(t *testing.T, path string) {
		seg, reserved := FirstSegment(path)
		if strings.Contains(seg, "/") {
			t.Fatalf("FirstSegment(%q) = %q holds a '/'", path, seg)
		}
		if reserved != ReservedSlugs[seg] {
			t.Fatalf("FirstSegment(%q) = %q, reserved %v", path, seg, reserved)
		}
		rest := strings.TrimPrefix(path, "/")
		if rest != seg && !strings.HasPrefix(rest, seg+"/") {
			t.Fatalf("FirstSegment(%q) = %q is not the first segment", path, seg)
		}
	})
}

var idRule = regexp.MustCompile(`^[A-Za-z0-9_-]{0,64}$`)

// FuzzValidID: an instance id is at most 64 of [A-Za-z0-9_-] (empty means "generate one"), so
// it is a path segment that needs no escaping.
func FuzzValidID(f *testing.F) {
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := validInstanceID(id), idRule.MatchString(id); got != want {
			t.Fatalf("validInstanceID(%q) = %v, want %v", id, got, want)
		}
	})
}
