package registry

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ooctl/oo/pkg/api"
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

// TestListPagesMatchSortedList: whatever registrations, moves (another URL, another slug) and
// removals happened, paging through the ordered index with any filter and page size gives the
// matching instances exactly as sorting everything would, each once.
func TestListPagesMatchSortedList(t *testing.T) {
	r, _ := newReg(t, Options{})
	rng := rand.New(rand.NewPCG(3, 4))
	var ids []string
	for i := range 300 {
		in, err := r.Register(admin, api.RegisterInstanceRequest{URL: fmt.Sprintf("http://127.0.5.%d:%d", rng.IntN(250)+1, 7000+i), Slug: fmt.Sprintf("s%d", rng.IntN(9))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID)
	}
	for i, id := range ids[:120] {
		var err error
		switch i % 3 {
		case 0: // same instance, another URL and slug
			_, err = r.Register(admin, api.RegisterInstanceRequest{ID: id, URL: fmt.Sprintf("http://127.0.6.%d:%d", rng.IntN(250)+1, 7000+i), Slug: fmt.Sprintf("s%d", rng.IntN(9))})
		case 1:
			err = r.Delete(admin, id)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	var all []api.Instance
	for _, e := range r.byID {
		all = append(all, e.rec.Instance)
	}
	r.mu.Unlock()
	slices.SortFunc(all, func(a, b api.Instance) int { return keyOf(&a).compare(keyOf(&b)) })
	some := all[len(all)/2]
	for _, f := range []Filter{{}, {Slug: "s4"}, {Slug: "s9"}, {Host: "127.0.6.7"}, {ID: some.ID}, {ID: some.ID, Slug: "nope"}, {Slug: some.Slug, Path: "/"}} {
		var want []string
		for i := range all {
			if f.match(&all[i]) {
				want = append(want, all[i].ID)
			}
		}
		for _, limit := range []int{0, 1, 7, 1000} {
			var got []string
			cursor, pages := "", 0
			for {
				page, next, err := r.ListPage(f, Page{Limit: limit, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				if page == nil {
					t.Fatal("a page is nil, which encodes as null")
				}
				for _, in := range page {
					got = append(got, in.ID)
				}
				if pages++; next == "" || pages > len(all)+1 {
					break
				}
				cursor = next
			}
			if !slices.Equal(got, want) {
				t.Errorf("filter %+v, limit %d: %d pages gave\n%v\nwant\n%v", f, limit, pages, got, want)
			}
		}
	}
}
