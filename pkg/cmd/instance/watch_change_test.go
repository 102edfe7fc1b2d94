package instance

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/proctest"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/iostreams"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// A piped watch of an instance that heartbeats all the time prints it once: a newer heartbeat
// time is not a change of the list.
func TestWatchPipedIgnoresHeartbeatTimes(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	tok := srv.Register(t, "beat-svc", "beat-password-1")
	c := client.New(srv.URL).WithToken(tok)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, err := c.RegisterInstance(ctx, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9"})
	if err != nil || in == nil || in.ID == "" {
		t.Fatalf("register: %+v %v", in, err)
	}
	if _, err := c.Heartbeat(ctx, in.ID, ""); err != nil {
		t.Fatal(err)
	}
	var beats atomic.Int32
	go func() {
		for ctx.Err() == nil {
			if _, err := c.Heartbeat(ctx, in.ID, ""); err == nil {
				beats.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	for _, output := range []string{"", "json"} {
		ios, _, _, _ := iostreams.Test()
		out := &proctest.Output{}
		ios.Out = out
		o := &LsOptions{Deps: watchFactory(t, srv, ios).Deps(), watch: true, interval: 100 * time.Millisecond, output: output, snapshots: 12}
		before := beats.Load()
		if err := lsRun(withCtx(o, ctx)); err != nil {
			t.Fatal(err)
		}
		if n := beats.Load() - before; n < 3 {
			t.Fatalf("only %d heartbeats during the watch: the test proves nothing", n)
		}
		snapshots := strings.Count(out.String(), "OWNER SLUG") // the table header
		if output == "json" {
			snapshots = strings.Count(strings.TrimSpace(out.String()), "\n") + 1
		}
		if snapshots != 1 || !strings.Contains(out.String(), in.ID) {
			t.Fatalf("-o %q: want the list once, got %d snapshots:\n%s", output, snapshots, out)
		}
	}
}
