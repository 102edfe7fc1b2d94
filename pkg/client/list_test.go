package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/server/servertest"
)

func ids(list []api.Instance) []string {
	out := make([]string, len(list))
	for i, in := range list {
		out[i] = in.ID
	}
	return out
}

// TestListAllInstancesPages: against the real server, ListAllInstances asks page by page and
// returns the same list as one unpaged request; most stops early.
func TestListAllInstancesPages(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	tok, err := client.New(srv.URL).Login(ctx, "admin", servertest.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(srv.URL)
	var mu sync.Mutex
	var queries []string
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	defer counting.Close()
	c := client.New(counting.URL).WithToken(tok.Token)
	for i := range 7 {
		if _, err := c.RegisterInstance(ctx, api.RegisterInstanceRequest{URL: fmt.Sprintf("http://127.0.0.1:%d", 4001+i), Slug: fmt.Sprintf("s%d", i%3)}); err != nil {
			t.Fatal(err)
		}
	}
	want, err := c.ListInstances(ctx, client.InstanceFilter{})
	if err != nil || len(want) != 7 {
		t.Fatalf("list: %d, %v", len(want), err)
	}
	queries = nil
	got, err := c.ListAllInstances(ctx, client.InstanceFilter{}, 2, 0)
	if err != nil || !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("paged %v, %v; want %v", ids(got), err, ids(want))
	}
	if len(queries) != 4 || queries[0] != "limit=2" || !strings.Contains(queries[3], "cursor=") {
		t.Fatalf("requests %q; want 4 pages of 2", queries)
	}
	got, err = c.ListAllInstances(ctx, client.InstanceFilter{Slug: "s0"}, 2, 0)
	if err != nil || len(got) != 3 {
		t.Fatalf("slug s0 paged: %v, %v", ids(got), err)
	}
	got, err = c.ListAllInstances(ctx, client.InstanceFilter{}, 2, 3)
	if err != nil || !slices.Equal(ids(got), ids(want[:3])) {
		t.Fatalf("most 3: %v, %v", ids(got), err)
	}
}

// TestListAllInstancesOtherServers: a server that does not page (the reference API) answers
// everything at once, which ends the paging; one that answers a cursor without progress is an
// error, not an endless loop.
func TestListAllInstancesOtherServers(t *testing.T) {
	three := []api.Instance{{ID: "a", URL: "u", Status: api.StatusHealthy}, {ID: "b", URL: "u", Status: api.StatusHealthy}, {ID: "c", URL: "u", Status: api.StatusHealthy}}
	for name, next := range map[string]string{"no paging": "", "stuck": "again"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(api.ListInstancesResponse{Instances: three, NextCursor: next})
		}))
		got, err := client.New(srv.URL).ListAllInstances(context.Background(), client.InstanceFilter{}, 2, 0)
		srv.Close()
		switch {
		case next == "" && (err != nil || len(got) != 3):
			t.Errorf("%s: %v, %v; want all three", name, ids(got), err)
		case next != "" && err == nil:
			t.Errorf("%s: no error after the same cursor twice", name)
		}
	}
}
