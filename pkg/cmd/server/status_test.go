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
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

func TestServerStatusRun(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = 500 * time.Millisecond; c.Version = "v9.9.9" })
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer svc.Close()
	tok := srv.Register(t, "status-svc", "status-password-1")
	if code := srv.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: svc.URL}, nil); code/100 != 2 {
		t.Fatalf("register: HTTP %d", code)
	}
	if code := srv.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9"}, nil); code/100 != 2 {
		t.Fatalf("register: HTTP %d", code)
	}
	ios, _, out, _ := iostreams.Test()
	o := &StatusOptions{Deps: cmdutil.Deps{
		IO:      ios,
		Ctx:     context.Background(),
		Session: func(bool) (*cmdutil.Session, error) { return &cmdutil.Session{URL: srv.URL, Token: tok}, nil },
		Client:  func(s *cmdutil.Session) *client.Client { return client.New(s.URL, client.WithToken(s.Token)) },
		Now:     time.Now,
	}}
	// Wait for the live instance's first probe, so the counts are known.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out.Reset()
		if err := statusRun(o); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "1 Healthy") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{
		"Server:    " + srv.URL + "\n",
		"Version:   v9.9.9\n",
		"Store:     bolt " + srv.DataDir,
		"Accounts:  2\n",
		"Slugs:     1\n",
		"Instances: 2 (1 Healthy, 1 Unknown)\n",
		"Probing:   every 500ms, by this server\n",
		"Metrics:   local\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	out.Reset()
	o.output = "json"
	if err := statusRun(o); err != nil {
		t.Fatal(err)
	}
	var st api.ServerStatus
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.Version != "v9.9.9" || st.Instances[api.StatusHealthy] != 1 || !st.Probing.Here {
		t.Fatalf("-o json: %v %s", err, out)
	}

	// Without a valid token: the server's 401, not a status.
	o.output = ""
	o.Session = func(bool) (*cmdutil.Session, error) { return &cmdutil.Session{URL: srv.URL, Token: "bad"}, nil }
	if err := statusRun(o); cmdutil.ExitCode(err) != cmdutil.ExitAuth {
		t.Fatalf("bad token: %v (exit %d)", err, cmdutil.ExitCode(err))
	}
}
