package user

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

// lsRun on its options alone: a fake session, a client for a stub server, a fixed clock.
func TestUserLsRun(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		json.NewEncoder(w).Encode(api.ListUsersResponse{Users: []api.User{{ID: "usr_1", Slug: "bob", Name: "Bob", Roles: []string{"user"}, CreatedAt: created}}, Count: 1})
	}))
	t.Cleanup(srv.Close)
	ios, _, out, _ := iostreams.Test()
	o := &LsOptions{Deps: cmdutil.Deps{
		IO:      ios,
		Ctx:     context.Background(),
		Session: func(bool) (*cmdutil.Session, error) { return &cmdutil.Session{URL: srv.URL, Token: "tok"}, nil },
		Client:  func(s *cmdutil.Session) *client.Client { return client.New(s.URL, client.WithToken(s.Token)) },
		Now:     func() time.Time { return created.Add(time.Hour) },
	}}
	if err := lsRun(o); err != nil {
		t.Fatal(err)
	}
	if auth != "Bearer tok" || !strings.Contains(out.String(), "usr_1") || !strings.Contains(out.String(), "2026-01-01T00:00:00Z") {
		t.Fatalf("auth %q, out %q", auth, out)
	}
	if err := lsRun(&LsOptions{Deps: o.Deps, limit: -1}); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Fatalf("negative limit: %v", err)
	}
}

func TestUserRmFlags(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	var got *RmOptions
	cmd := NewCmdRm(&cmdutil.Factory{IOStreams: ios}, func(o *RmOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"old-svc", "--remove-instances"})
	if err := cmd.Execute(); err != nil || got.slug != "old-svc" || !got.removeInstances {
		t.Fatalf("%v %+v", err, got)
	}
}
