package call_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmd/root"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

// notifyWriter tells when a line has reached stdout, while the command is still running.
type notifyWriter struct {
	mu   sync.Mutex
	b    bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if strings.Contains(w.b.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *notifyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestCallStreamsPastTheClientTimeLimit: a streamed answer is written out as it arrives, and
// it may outlast the API client's overall time limit (30 s in oo; 1 s here, set on the
// factory's HTTP client, so the test need not wait 30 s).
func TestCallStreamsPastTheClientTimeLimit(t *testing.T) {
	t.Parallel()
	out := &notifyWriter{want: "first\n", seen: make(chan struct{})}
	streamedEarly := make(chan bool, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		start := time.Now()
		select {
		case <-out.seen:
			streamedEarly <- true
		case <-time.After(5 * time.Second):
			streamedEarly <- false
		}
		// Past the client's time limit.
		time.Sleep(1500*time.Millisecond - time.Since(start))
		io.WriteString(w, "second\n")
	}))
	t.Cleanup(srv.Close)

	h := cmdtest.New(t, srv.URL)
	ios, _, _, errOut := iostreams.Test()
	ios.Out = out
	f := h.Factory(ios)
	f.HTTPClient = &http.Client{Timeout: time.Second}
	cmd := root.NewCmdFactory(f)
	cmd.SetArgs([]string{"call", "get", "/events-svc/stream"})
	code := root.Execute(context.Background(), f, cmd)
	if code != 0 || out.String() != "first\nsecond\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	if !<-streamedEarly {
		t.Error("the first chunk reached stdout only after the answer was complete")
	}
}

// TestCallTimeout: --timeout bounds the request; passing it is reported as a timeout (exit 8),
// not as an unreachable server, with what had arrived already on stdout.
func TestCallTimeout(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/poll-svc/stream" {
			io.WriteString(w, "partial\n")
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done() // a long poll with nothing to say
	}))
	t.Cleanup(srv.Close)
	h := cmdtest.New(t, srv.URL)

	r := h.Run(cmdtest.Piped, "", "call", "get", "/poll-svc/wait", "--timeout", "300ms")
	cmdtest.MustFail(t, r, cmdutil.ExitTimeout, "GET /poll-svc/wait timed out: no answer within --timeout 300ms")
	if strings.Contains(r.Err, "cannot reach") {
		t.Errorf("a timeout reported as an unreachable server: %q", r.Err)
	}
	r = h.Run(cmdtest.Piped, "", "call", "get", "/poll-svc/stream", "--timeout", "300ms")
	cmdtest.MustFail(t, r, cmdutil.ExitTimeout, "the answer did not finish within --timeout 300ms")
	if r.Out != "partial\n" {
		t.Errorf("stdout %q, want what arrived before the timeout", r.Out)
	}
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "call", "get", "/x", "--timeout", "-1s"), cmdutil.ExitUsage, "negative")
}
