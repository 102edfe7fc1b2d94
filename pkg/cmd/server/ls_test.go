package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

func TestServerLsRun(t *testing.T) {
	started := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var auth, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, path = r.Header.Get("Authorization"), r.URL.Path
		json.NewEncoder(w).Encode(api.ListReplicasResponse{Store: "etcd", Replicas: []api.Replica{
			{ID: "rep_a", Address: "10.0.0.1:58231", Version: "v1.2.3", StartedAt: started, Prober: true},
			{ID: "rep_b", Address: "10.0.0.2:58231", Version: "v1.2.3", StartedAt: started, Self: true},
		}})
	}))
	t.Cleanup(srv.Close)
	ios, _, out, _ := iostreams.Test()
	o := &LsOptions{Deps: cmdutil.Deps{
		IO:      ios,
		Ctx:     context.Background(),
		Session: func(bool) (*cmdutil.Session, error) { return &cmdutil.Session{URL: srv.URL, Token: "tok"}, nil },
		Client:  func(s *cmdutil.Session) *client.Client { return client.New(s.URL, client.WithToken(s.Token)) },
		Now:     func() time.Time { return started.Add(time.Hour) },
	}}
	if err := lsRun(o); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if auth != "Bearer tok" || path != api.PathReplicas || len(lines) != 3 {
		t.Fatalf("auth %q path %q, out:\n%s", auth, path, out)
	}
	for _, want := range []string{"ID", "ADDRESS", "VERSION", "STARTED", "PROBER"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header %q lacks %s", lines[0], want)
		}
	}
	if f := strings.Fields(lines[1]); f[0] != "rep_a" || f[1] != "10.0.0.1:58231" || f[3] != "2026-01-01T00:00:00Z" || f[4] != "yes" {
		t.Errorf("prober row %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "rep_b" || f[1] != "*" || f[len(f)-1] != "-" {
		t.Errorf("self row %q (want the * mark and no prober)", lines[2])
	}

	out.Reset()
	o.output = "json"
	if err := lsRun(o); err != nil {
		t.Fatal(err)
	}
	var got api.ListReplicasResponse
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Store != "etcd" || len(got.Replicas) != 2 || !got.Replicas[0].Prober {
		t.Fatalf("-o json: %v %s", err, out)
	}
}
