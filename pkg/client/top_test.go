package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/server/servertest"
)

// Top reads the snapshot of a real server: the caller's slug with its instance and the
// requests proxied to it; without a token it is a 401.
func TestClientTop(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	tok := srv.Register(t, "top-svc", "top-svc-password-1234")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(backend.Close)
	if code := srv.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: backend.URL}, nil); code != http.StatusCreated {
		t.Fatalf("register: HTTP %d", code)
	}
	for range 3 {
		rsp, err := http.Get(srv.URL + "/top-svc/x")
		if err != nil {
			t.Fatal(err)
		}
		rsp.Body.Close()
	}
	top, err := client.New(srv.URL, client.WithToken(tok)).Top(ctx)
	if err != nil || len(top.Slugs) != 1 || top.Slugs[0].Slug != "top-svc" || top.Slugs[0].Instances != 1 || top.Slugs[0].Requests != 3 {
		t.Fatalf("top: %+v %v", top, err)
	}
	_, err = client.New(srv.URL).Top(ctx)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized {
		t.Fatalf("without a token: %v", err)
	}
}
