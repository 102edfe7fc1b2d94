package call

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

// callRun on its options alone: a fake session without a token, a client for a stub server.
func TestCallRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" auth="+r.Header.Get("Authorization"))
		io.WriteString(w, "echo:"+string(b))
	}))
	t.Cleanup(srv.Close)
	ios, _, out, _ := iostreams.Test()
	o := &Options{
		Deps: cmdutil.Deps{
			IO:      ios,
			Ctx:     context.Background(),
			Session: func(bool) (*cmdutil.Session, error) { return &cmdutil.Session{URL: srv.URL}, nil },
			Client:  func(s *cmdutil.Session) *client.Client { return client.New(s.URL) },
		},
		method: http.MethodPost, path: "/svc/x", data: `{"a":1}`, include: true,
	}
	if err := callRun(o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "X-Got: POST /svc/x application/json auth=\n") || !strings.HasSuffix(out.String(), `echo:{"a":1}`) {
		t.Fatalf("%q", out)
	}
	o.path = "svc/x"
	if err := callRun(o); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Fatalf("a path without /: %v", err)
	}
}
