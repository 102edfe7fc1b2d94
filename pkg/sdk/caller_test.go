package sdk

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

// A service started with the SDK learns who called it through the real server, with no token
// verification of its own; a forged header or a request without a token gives no caller.
func TestProxiedCallerThroughTheServer(t *testing.T) {
	cleanEnv(t)
	srv := startServer(t)
	t.Setenv(EnvURL, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := Start(ctx, "whoami-svc", WithHeartbeat(100*time.Millisecond, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /whoami-svc/me", func(w http.ResponseWriter, r *http.Request) {
		c, ok := ProxiedCaller(r)
		if !ok {
			json.NewEncoder(w).Encode(map[string]any{"anonymous": true})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"slug": c.Slug, "user": c.UserID, "roles": c.Roles, "admin": c.IsAdmin(), "token": c.Token != ""})
	})
	go svc.Serve(mux)
	waitFor(t, 10*time.Second, "whoami-svc healthy", func() bool {
		l := instancesOf(t, srv, "whoami-svc")
		return len(l) == 1 && l[0].Status == api.StatusHealthy
	})

	ask := func(token string, extra ...string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/whoami-svc/me", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			req.Header.Set(extra[i], extra[i+1])
		}
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer rsp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(rsp.Body).Decode(&out); err != nil || rsp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d: %v", rsp.StatusCode, err)
		}
		return out
	}

	admin := ask(srv.AdminToken(t), api.HeaderCallerSlug, "someone-else")
	roles, _ := admin["roles"].([]any)
	if admin["slug"] != "admin" || admin["admin"] != true || admin["token"] != true || !slices.Contains(roles, any(api.RoleAdmin)) {
		t.Errorf("admin caller seen as %v", admin)
	}
	if got := ask("", api.HeaderCallerSlug, "admin", api.HeaderCallerUserID, "usr_forged", api.HeaderCallerRoles, api.RoleAdmin); got["anonymous"] != true {
		t.Errorf("forged headers without a token made a caller: %v", got)
	}
}

func TestProxiedCallerParsesHeaders(t *testing.T) {
	r, _ := http.NewRequest(http.MethodGet, "/x", nil)
	if _, ok := ProxiedCaller(r); ok {
		t.Fatal("a caller from no headers")
	}
	r.Header.Set(api.HeaderCallerSlug, "app")
	r.Header.Set(api.HeaderCallerUserID, "usr_1")
	r.Header.Set(api.HeaderCallerRoles, "user-svc:user, user-svc:admin,")
	r.Header.Set("Authorization", "Bearer tok")
	c, ok := ProxiedCaller(r)
	if !ok || c.Slug != "app" || c.UserID != "usr_1" || !slices.Equal(c.Roles, []string{"user-svc:user", "user-svc:admin"}) || !c.IsAdmin() || c.Token != "tok" {
		t.Fatalf("ProxiedCaller = %+v, %v", c, ok)
	}
}
