package registry

import (
	"cmp"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
)

// Page asks for part of a list: at most Limit instances (0: no limit) that come after the one
// Cursor names (empty: from the start).
type Page struct {
	Limit  int
	Cursor string
}

// listKey is an instance's place in a list: by slug, then URL, then id (unique).
type listKey struct{ slug, url, id string }

func keyOf(in *api.Instance) listKey { return listKey{in.Slug, in.URL, in.ID} }

func (k listKey) compare(o listKey) int {
	return cmp.Or(cmp.Compare(k.slug, o.slug), cmp.Compare(k.url, o.url), cmp.Compare(k.id, o.id))
}

// A cursor is the key of the last instance of a page, so the next page starts after it whatever
// was registered or removed meanwhile: an instance is never listed twice, and one present from
// the first page to the last is never skipped. It is opaque to clients (base64url); slugs and
// ids never hold a NUL and a canonical URL neither, so NULs separate the parts.
const cursorVersion = "1\x00"

func (k listKey) cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorVersion + k.slug + "\x00" + k.url + "\x00" + k.id))
}

func parseCursor(c string) (listKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	rest, ok := strings.CutPrefix(string(b), cursorVersion)
	slug, rest, ok2 := strings.Cut(rest, "\x00")
	i := strings.LastIndexByte(rest, 0)
	if err != nil || !ok || !ok2 || i < 0 {
		return listKey{}, apierr.BadRequest("cursor %q is not one this server gave out; start again without a cursor", c)
	}
	return listKey{slug, rest[:i], rest[i+1:]}, nil
}

// ListPage returns the instances matching f that pg asks for, ordered by slug, URL and id, and
// the cursor of the next page ("" when no more remain).
func (r *Registry) ListPage(f Filter, pg Page) ([]api.Instance, string, error) {
	var after listKey
	if pg.Cursor != "" {
		var err error
		if after, err = parseCursor(pg.Cursor); err != nil {
			return nil, "", err
		}
	}
	if pg.Limit < 0 {
		return nil, "", apierr.BadRequest("limit %d must be positive", pg.Limit)
	}
	r.mu.Lock()
	out := make([]api.Instance, 0, len(r.byID))
	for _, e := range r.byID {
		in := &e.rec.Instance
		if f.match(in) && (pg.Cursor == "" || keyOf(in).compare(after) > 0) {
			out = append(out, *in)
		}
	}
	r.unlock()
	slices.SortFunc(out, func(a, b api.Instance) int { return keyOf(&a).compare(keyOf(&b)) })
	if pg.Limit == 0 || len(out) <= pg.Limit {
		return out, "", nil
	}
	out = slices.Clone(out[:pg.Limit]) // let go of the rest
	return out, keyOf(&out[len(out)-1]).cursor(), nil
}
