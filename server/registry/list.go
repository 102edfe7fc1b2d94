package registry

import (
	"cmp"
	"encoding/base64"
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

// listLess orders Registry.ordered. An entry's slug, URL and id change only between unindex
// and index, so its place in the tree holds while it is there.
func listLess(a, b *entry) bool { return keyOf(&a.rec.Instance).compare(keyOf(&b.rec.Instance)) < 0 }

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
// the cursor of the next page ("" when no more remain). It reads the page from the ordered
// index: the cost is the page (and what the filter skips), not a sort of the registry.
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
	// Start at the cursor, or at the filter's slug when that comes later.
	from := after
	if f.Slug != "" && f.Slug > after.slug {
		from = listKey{slug: f.Slug}
	}
	pivot := &entry{}
	pivot.rec.Slug, pivot.rec.URL, pivot.rec.ID = from.slug, from.url, from.id
	more := false

	r.mu.Lock()
	n := len(r.byID)
	if f.Slug != "" {
		n = 0
		if s := r.bySlug[f.Slug]; s != nil {
			n = s.n
		}
	}
	if pg.Limit > 0 {
		n = min(n, pg.Limit)
	}
	out := make([]api.Instance, 0, n)
	visit := func(e *entry) bool {
		in := &e.rec.Instance
		switch {
		case f.Slug != "" && in.Slug > f.Slug:
			return false // past the slug asked for
		case pg.Cursor != "" && keyOf(in).compare(after) <= 0, !f.match(in):
			return true
		case pg.Limit > 0 && len(out) == pg.Limit:
			more = true
			return false
		}
		out = append(out, *in)
		return true
	}
	if e := r.byID[f.ID]; f.ID != "" {
		if e != nil {
			visit(e)
		}
	} else {
		r.ordered.AscendGreaterOrEqual(pivot, visit)
	}
	r.unlock()
	if !more {
		return out, "", nil
	}
	return out, keyOf(&out[len(out)-1]).cursor(), nil
}
