package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/ooctl/oo/pkg/api"
)

// listPage fetches one page and returns it with its nextCursor.
func listPage(t *testing.T, token string, get func(string) regResult, query string) ([]string, string) {
	t.Helper()
	res := get(query)
	if res.status != http.StatusOK {
		t.Fatalf("list%s: HTTP %d %s", query, res.status, res.body)
	}
	var out api.ListInstancesResponse
	if err := json.Unmarshal(res.body, &out); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range out.Instances {
		ids = append(ids, in.ID)
	}
	return ids, out.NextCursor
}

// TestRegListPages: limit and cursor page through the list in its order, in the upstream form
// and with extras; nextCursor appears only when a page was asked for and more remain; an
// instance registered meanwhile after the cursor is listed and one before it is not listed
// twice; the answer without paging parameters is unchanged.
func TestRegListPages(t *testing.T) {
	s := regStart(t, -1)
	a := s.Register(t, "a-svc", "a-svc-password-1234")
	b := s.Register(t, "b-svc", "b-svc-password-1234")
	for i := range 4 {
		regPut(t, s, a, api.RegisterInstanceRequest{URL: fmt.Sprintf("http://127.0.0.1:%d", 2001+i)})
		regPut(t, s, b, api.RegisterInstanceRequest{URL: fmt.Sprintf("http://127.0.0.1:%d", 3001+i)})
	}
	var all []string
	for _, in := range regList(t, s, a, "") {
		all = append(all, in.ID)
	}
	for _, hdr := range []http.Header{nil, extrasHeader} {
		get := func(q string) regResult { return regCallH(t, s, http.MethodGet, api.PathInstances+q, a, nil, hdr) }
		if res := get(""); bytes.Contains(res.body, []byte("nextCursor")) {
			t.Fatalf("an answer without paging carries nextCursor: %s", res.body)
		}
		var got []string
		q := "?limit=3"
		for pages := 1; ; pages++ {
			ids, next := listPage(t, a, get, q)
			got = append(got, ids...)
			if next == "" {
				if pages != 3 || len(ids) != 2 {
					t.Fatalf("last page is page %d with %d instances; want page 3 with 2", pages, len(ids))
				}
				break
			}
			if len(ids) != 3 {
				t.Fatalf("page %d: %d instances with a nextCursor, want 3", pages, len(ids))
			}
			q = "?limit=3&cursor=" + url.QueryEscape(next)
		}
		if !slices.Equal(got, all) {
			t.Fatalf("pages gave %v, want the list %v", got, all)
		}
		// Exactly a page's worth left: no nextCursor pointing at nothing.
		if _, next := listPage(t, a, get, "?limit=8"); next != "" {
			t.Fatalf("limit=8 of 8 answered nextCursor %q", next)
		}
		// Filters apply to the pages.
		if ids, next := listPage(t, a, get, "?slug=b-svc&limit=4"); len(ids) != 4 || next != "" || ids[0] != all[4] {
			t.Fatalf("slug=b-svc&limit=4: %v, %q", ids, next)
		}
	}

	// Changes between pages: the cursor is a position, not an offset.
	get := func(q string) regResult {
		return regCallH(t, s, http.MethodGet, api.PathInstances+q, a, nil, extrasHeader)
	}
	first, next := listPage(t, a, get, "?limit=2")
	regPut(t, s, a, api.RegisterInstanceRequest{URL: "http://127.0.0.1:2000"}) // sorts first
	late, _ := regPut(t, s, b, api.RegisterInstanceRequest{URL: "http://127.0.0.1:3999"})
	rest, _ := listPage(t, a, get, "?cursor="+url.QueryEscape(next))
	if want := append(slices.Clone(all[2:]), late.ID); !slices.Equal(rest, want) || !slices.Equal(first, all[:2]) {
		t.Fatalf("first page %v, after its cursor: %v; want %v, %v", first, rest, all[:2], want)
	}

	for _, q := range []string{"?limit=0", "?limit=-1", "?limit=x", "?limit=", "?limit=1.5", "?cursor=", "?cursor=bm90IG91cnM", "?cursor=%25%25", "?limit=2&cursor=zz"} {
		res := get(q)
		if res.status != http.StatusBadRequest {
			t.Errorf("list%s: HTTP %d %s, want 400", q, res.status, res.body)
			continue
		}
		res.errMsg(t)
	}
}
