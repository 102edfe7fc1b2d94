package httpapi_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// An admin removes an account: its tokens stop working at once, its slug is free again, and
// instances it owns block the removal unless they are removed with it. The removal survives a
// restart (it is in the bbolt file, not only in memory).
func TestRemoveUser(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := servertest.Start(t, func(c *server.Config) { c.DataDir = filepath.Join(dir, "data"); c.ProbeInterval = -1 })
	admin := srv.AdminToken(t)
	tok := srv.Register(t, "gone-svc", "password-of-gone")
	var reg api.RegisterInstanceResponse
	if code := srv.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: "http://127.0.0.1:39011"}, &reg); code != http.StatusCreated {
		t.Fatalf("register instance: %d", code)
	}

	if code := srv.Do(t, http.MethodDelete, api.UserPath("gone-svc"), tok, nil, nil); code != http.StatusForbidden {
		t.Errorf("non-admin removing an account: %d, want 403", code)
	}
	if code := srv.Do(t, http.MethodDelete, api.UserPath("no-such"), admin, nil, nil); code != http.StatusNotFound {
		t.Errorf("unknown slug: %d, want 404", code)
	}
	if code := srv.Do(t, http.MethodDelete, api.UserPath("admin"), admin, nil, nil); code != http.StatusBadRequest {
		t.Errorf("removing yourself: %d, want 400", code)
	}
	if code := srv.Do(t, http.MethodDelete, api.UserPath("gone-svc")+"?removeInstances=maybe", admin, nil, nil); code != http.StatusBadRequest {
		t.Errorf("bad removeInstances: %d, want 400", code)
	}
	var e api.ErrorResponse
	if code := srv.Do(t, http.MethodDelete, api.UserPath("gone-svc"), admin, nil, &e); code != http.StatusConflict {
		t.Fatalf("account owning an instance: %d %q, want 409", code, e.Error)
	}
	if code := srv.Do(t, http.MethodPost, api.PathUserByToken, tok, nil, nil); code != http.StatusOK {
		t.Fatalf("a refused removal must change nothing: by-token %d", code)
	}

	if code := srv.Do(t, http.MethodDelete, api.UserPath("gone-svc")+"?removeInstances=true", admin, nil, nil); code != http.StatusNoContent {
		t.Fatalf("remove with instances: %d", code)
	}
	if code := srv.Do(t, http.MethodPost, api.PathUserByToken, tok, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("token of a removed account: %d, want 401", code)
	}
	var list api.ListInstancesResponse
	srv.Do(t, http.MethodGet, api.PathInstances, admin, nil, &list)
	if len(list.Instances) != 0 {
		t.Errorf("instances left after removeInstances=true: %+v", list.Instances)
	}
	if code := srv.Do(t, http.MethodDelete, api.UserPath("gone-svc"), admin, nil, nil); code != http.StatusNotFound {
		t.Errorf("second removal: %d, want 404", code)
	}

	srv.Stop(t)
	srv2 := servertest.Start(t, func(c *server.Config) { c.DataDir = filepath.Join(dir, "data"); c.ProbeInterval = -1 })
	if code := srv2.Do(t, http.MethodPost, api.PathLogin, "", api.LoginRequest{Slug: "gone-svc", Password: "password-of-gone"}, nil); code != http.StatusBadRequest {
		t.Errorf("login of a removed account after restart: %d, want 400 (unknown slug)", code)
	}
	srv2.Register(t, "gone-svc", "a-new-owner-password") // the slug is free again
	admin2 := srv2.AdminToken(t)
	var users api.ListUsersResponse
	srv2.Do(t, http.MethodPost, api.PathUsers, admin2, api.ListUsersRequest{}, &users)
	if users.Count != 2 {
		t.Errorf("users after restart: %d, want admin and the new gone-svc", users.Count)
	}
}
