package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// With bolt, `oo server ls` shows this process alone: the address it listens on, the prober.
func TestReplicasListsTheOneBoltServer(t *testing.T) {
	s := servertest.Start(t)
	if code := s.Do(t, http.MethodGet, api.PathReplicas, "", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("without a token: HTTP %d, want 401", code)
	}
	var rsp api.ListReplicasResponse
	if code := s.Do(t, http.MethodGet, api.PathReplicas, s.AdminToken(t), nil, &rsp); code != http.StatusOK {
		t.Fatalf("HTTP %d", code)
	}
	if rsp.Store != "bolt" || len(rsp.Replicas) != 1 {
		t.Fatalf("got %+v, want the one bolt replica", rsp)
	}
	r := rsp.Replicas[0]
	if !strings.HasPrefix(r.ID, "rep_") || "http://"+r.Address != s.URL || !r.Prober || !r.Self || r.Version == "" ||
		time.Since(r.StartedAt) > time.Minute {
		t.Fatalf("replica %+v; want id rep_…, address %s, prober, self, a version and a start time", r, s.URL)
	}

	// --advertise wins over the listen address; probing off means no prober.
	s2 := servertest.Start(t, func(c *server.Config) { c.Advertise = "oo-a.internal:58231"; c.ProbeInterval = -1 })
	rsp = api.ListReplicasResponse{}
	s2.Do(t, http.MethodGet, api.PathReplicas, s2.AdminToken(t), nil, &rsp)
	if len(rsp.Replicas) != 1 || rsp.Replicas[0].Address != "oo-a.internal:58231" || rsp.Replicas[0].Prober {
		t.Fatalf("with --advertise and probing off: %+v", rsp)
	}
}
