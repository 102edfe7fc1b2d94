package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

func TestClientAgainstServer(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	c := client.New(srv.URL + "/")

	_, err := c.Login(ctx, "admin", "wrong-password")
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 401 || ce.StatusCode() != 401 || ce.Message == "" {
		t.Fatalf("wrong password: %#v", err)
	}
	tok, err := c.Login(ctx, "admin", servertest.AdminPassword)
	if err != nil || tok.Token == "" {
		t.Fatalf("login: %v", err)
	}
	ac := c.WithToken(tok.Token)
	me, err := ac.Whoami(ctx)
	if err != nil || me.User.Slug != "admin" {
		t.Fatalf("whoami: %+v %v", me, err)
	}
	pem, err := c.PublicKey(ctx)
	if err != nil || !strings.Contains(pem, "PUBLIC KEY") {
		t.Fatalf("public key: %q %v", pem, err)
	}
	list, err := ac.ListInstances(ctx, client.InstanceFilter{Slug: "nobody"})
	if err != nil || list == nil || len(list) != 0 {
		t.Fatalf("empty list must be an empty, non-nil slice: %#v %v", list, err)
	}
	if err := ac.DeleteInstance(ctx, "inst_nope"); !client.IsStatus(err, 404) {
		t.Fatalf("delete unknown: %v", err)
	}
	rsp, err := ac.Do(ctx, http.MethodGet, "registry-svc/instances", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != 200 || !strings.Contains(string(body), `"instances"`) {
		t.Fatalf("raw Do: %d %s", rsp.StatusCode, body)
	}
	if err := ac.RevokeToken(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Whoami(ctx); !client.IsStatus(err, 401) {
		t.Fatalf("revoked token still accepted: %v", err)
	}
	if _, err := ac.ListUsers(ctx, 0); !client.IsStatus(err, 401) {
		t.Fatalf("list users with a revoked token: %v", err)
	}
	bob := c.WithToken(srv.Register(t, "bob", "bob-password-1"))
	if _, err := bob.ListUsers(ctx, 0); !client.IsStatus(err, 403) {
		t.Fatalf("non-admin list users: %v", err)
	}
	if _, err := c.Register(ctx, api.RegisterRequest{Slug: "bob", Name: "b", Password: "another-password-1"}); !client.IsStatus(err, 409) {
		t.Fatalf("taken slug: %v", err)
	}
}

func TestClientUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	_, err = client.New(u).PublicKey(context.Background())
	if !client.IsUnreachable(err) || !strings.Contains(err.Error(), u) {
		t.Fatalf("want unreachable naming %s, got %v", u, err)
	}
}

// TestClientAsksForExtras: the server sends upstream-only instances unless asked; oo's client
// asks on every call, so the CLI and the SDK keep oo's fields.
func TestClientAsksForExtras(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	ctx := context.Background()
	c := client.New(srv.URL).WithToken(srv.Register(t, "extras-svc", "extras-password-1"))
	req := api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311", HealthPath: "/hz", HeartbeatTTL: "1h"}
	check := func(what string, in *api.Instance, err error) {
		t.Helper()
		if err != nil || in == nil || in.CreatedAt.IsZero() || in.HealthPath != "/hz" || in.HeartbeatTTL != "1h" {
			t.Fatalf("%s: extras missing: %+v %v", what, in, err)
		}
	}
	in, err := c.RegisterInstance(ctx, req)
	check("register", in, err)
	list, err := c.ListInstances(ctx, client.InstanceFilter{})
	if len(list) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	check("list", &list[0], err)
	in, err = c.Heartbeat(ctx, list[0].ID, "")
	check("heartbeat", in, err)
}
