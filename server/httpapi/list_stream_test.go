package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

// TestWriteInstancesEqualsWriteJSON: the list written one instance at a time is, as JSON, the
// document WriteJSON writes for the same answer, in both forms, with and without a cursor.
func TestWriteInstancesEqualsWriteJSON(t *testing.T) {
	now := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	list := []api.Instance{
		{ID: "inst_1", URL: "http://127.0.0.1:1", Status: api.StatusHealthy, Slug: "a", LastHeartbeat: &now, Tags: []string{"<x>"}, HealthPath: "/h", CreatedAt: now},
		{ID: "inst_2", URL: "http://127.0.0.1:2/p?a=<b>&c", Status: api.StatusUnknown, Slug: "b", Port: 2, Meta: map[string]string{"k": "v"}},
	}
	for _, tc := range []struct {
		list []api.Instance
		next string
	}{{list, ""}, {list, "MQBh"}, {[]api.Instance{}, ""}} {
		for _, extras := range []bool{false, true} {
			got := httptest.NewRecorder()
			writeInstances(got, tc.list, tc.next, extras)
			want := httptest.NewRecorder()
			if extras {
				WriteJSON(want, 200, api.ListInstancesResponse{Instances: tc.list, NextCursor: tc.next})
			} else {
				WriteJSON(want, 200, api.UpstreamListInstancesResponse{Instances: api.UpstreamInstances(tc.list), NextCursor: tc.next})
			}
			var g, w bytes.Buffer
			if err := json.Compact(&g, got.Body.Bytes()); err != nil {
				t.Fatalf("streamed list is not JSON: %v\n%s", err, got.Body.Bytes())
			}
			json.Compact(&w, want.Body.Bytes())
			if g.String() != w.String() || got.Code != 200 || got.Header().Get("Content-Type") != "application/json" {
				t.Errorf("extras %v, next %q: HTTP %d %q\n%s\nwant\n%s", extras, tc.next, got.Code, got.Header().Get("Content-Type"), g.String(), w.String())
			}
		}
	}
}
