package service_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// TestRegisterRefusesWhatTheServerRefuses: oo service register checks --url and --health-path
// with the server's own rule, so what the server would answer 400 fails before an account is
// created, with the server's words and the flag's name.
func TestRegisterRefusesWhatTheServerRefuses(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	tok := srv.Register(t, "probe-svc", "probe-password-123")
	h := cmdtest.New(t, srv.URL)
	for i, tc := range []struct{ url, healthPath, flag string }{
		{"http://user:pw@127.0.0.1:9", "", "--url"}, // credentials would be listed to everyone
		{"http://127.0.0.1:9/?q=1", "", "--url"},
		{"http://127.1:9", "", "--url"}, // not a dotted quad
		{"http://127.0.0.1:0", "", "--url"},
		{"ftp://127.0.0.1:9", "", "--url"},
		{"http://127.0.0.1:9", "/health check", "--health-path"},
		{"http://127.0.0.1:9", "/h#x", "--health-path"},
	} {
		var e api.ErrorResponse
		code := srv.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: tc.url, HealthPath: tc.healthPath}, &e)
		if code != http.StatusBadRequest {
			t.Fatalf("%s %q: the server answered %d, want 400", tc.url, tc.healthPath, code)
		}
		slug := "chk" + string(rune('a'+i)) + "-svc"
		args := []string{"service", "register", slug, "--url", tc.url}
		if tc.healthPath != "" {
			args = append(args, "--health-path", tc.healthPath)
		}
		r := h.Run(cmdtest.Piped, "", args...)
		// The server's message, its field named by the flag.
		_, rest, _ := strings.Cut(e.Error, " ")
		cmdtest.MustFail(t, r, cmdutil.ExitUsage, tc.flag+" "+rest)
		if accountExists(t, srv.URL, slug) {
			t.Fatalf("%s: the refused register created the account %s", tc.url, slug)
		}
	}
}
