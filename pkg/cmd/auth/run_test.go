package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/internal/credstore"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

// loginRun on its options alone: a stub server, an in-memory store, a temp config, no factory.
func TestLoginRun(t *testing.T) {
	var got api.LoginRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		json.NewEncoder(w).Encode(api.LoginResponse{Token: api.AuthToken{Token: "tok-1"}})
	}))
	t.Cleanup(srv.Close)
	cfg, err := config.Load(filepath.Join(t.TempDir(), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	store := credstore.NewMemory()
	ios, in, _, errOut := iostreams.Test()
	in.WriteString("pw\n")
	o := &LoginOptions{Deps: cmdutil.Deps{
		IO:              ios,
		Ctx:             context.Background(),
		Config:          func() (*config.Config, error) { return cfg, nil },
		Target:          func() (*cmdutil.Session, error) { return &cmdutil.Session{Env: "local", URL: srv.URL}, nil },
		Client:          func(s *cmdutil.Session) *client.Client { return client.New(s.URL) },
		Store:           func(string) credstore.Store { return store },
		InsecureStorage: func(bool) bool { return false },
	}, slug: "alice", passwordStdin: true}
	if err := loginRun(o); err != nil {
		t.Fatal(err)
	}
	if got.Slug != "alice" || got.Password != "pw" {
		t.Fatalf("login request %+v", got)
	}
	if tok, err := store.Get("local", "alice"); err != nil || tok != "tok-1" {
		t.Fatalf("stored %q %v", tok, err)
	}
	if cfg.Environments["local"].User != "alice" || !strings.Contains(errOut.String(), "Logged in to local") {
		t.Fatalf("config user %q, stderr %q", cfg.Environments["local"].User, errOut)
	}
}

func TestTokenRun(t *testing.T) {
	ios, _, out, _ := iostreams.Test()
	o := &TokenOptions{Deps: cmdutil.Deps{IO: ios, Session: func(required bool) (*cmdutil.Session, error) {
		if !required {
			t.Error("oo token needs a token")
		}
		return &cmdutil.Session{Token: "tok-2"}, nil
	}}}
	if err := tokenRun(o); err != nil || out.String() != "tok-2\n" {
		t.Fatalf("%v %q", err, out)
	}
}
