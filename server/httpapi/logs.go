package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/traffic"
)

// logsBuffer is how many requests a follower may lag behind before the recorder drops (and
// counts) what it cannot take: about half a second of a busy slug, a few hundred KiB.
const logsBuffer = 512

// logsKeepAlive is how often an idle stream sends a comment line, so proxies and load
// balancers between the server and the follower do not close it as idle (many do at 30-60 s).
var logsKeepAlive atomic.Int64

func init() { logsKeepAlive.Store(int64(15 * time.Second)) }

// logsRoutes registers the request log of a slug.
func (a *API) logsRoutes(rt *router) {
	rt.handle(http.MethodGet, api.PathLogs+"/{slug}", a.authed(a.logs))
}

// logs follows the requests proxied to one slug as Server-Sent Events: a "data:" line with an
// api.LogEvent per request, an api.LogsDroppedEvent when the reader fell behind, a comment
// every logsKeepAlive. It lasts until the client goes or the server shuts down (Done).
func (a *API) logs(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	slug := r.PathValue("slug")
	if err := api.CheckSlug(slug); err != nil {
		WriteError(w, r, a.Log, apierr.BadRequest("%v", err))
		return
	}
	if p.Slug != slug && !p.IsAdmin() {
		WriteError(w, r, a.Log, apierr.Forbidden("only %s and admins may follow the requests to %s", slug, slug))
		return
	}
	if a.Traffic == nil {
		WriteError(w, r, a.Log, apierr.NotFound("this server records no traffic (it was started with --metrics off)"))
		return
	}
	sub := a.Traffic.Subscribe(slug, logsBuffer)
	defer sub.Close()

	rc := http.NewResponseController(w)
	// Handler set a read deadline meant for request bodies; net/http would cancel the request
	// when it passes, ending a stream that is meant to last. Nothing is read from here on.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		// A write to a reader that stopped reading blocks; at shutdown it must fail at once so
		// that graceful shutdown does not wait for the follower.
		select {
		case <-a.Done:
			_ = rc.SetWriteDeadline(time.Now())
		case <-stop:
		}
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx in front: pass each event on at once
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}

	s := &sseWriter{w: w, enc: json.NewEncoder(w)}
	s.enc.SetEscapeHTML(false)
	keepAlive := time.NewTicker(time.Duration(logsKeepAlive.Load()))
	defer keepAlive.Stop()
	var reported uint64
	for {
		select {
		case <-r.Context().Done():
			return
		case <-a.Done:
			return
		case <-keepAlive.C:
			s.comment("keep-alive")
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			s.event(ev)
			// Take what else is waiting before flushing: one write for a burst.
		burst:
			for n := 1; n < logsBuffer && s.err == nil; n++ {
				select {
				case ev, ok := <-sub.C:
					if !ok {
						break burst
					}
					s.event(ev)
				default:
					break burst
				}
			}
		}
		if d := sub.Dropped(); d != reported {
			reported = d
			s.dropped(d)
		}
		if s.err != nil || rc.Flush() != nil {
			return
		}
	}
}

// sseWriter writes Server-Sent Events and keeps the first error.
type sseWriter struct {
	w   io.Writer
	enc *json.Encoder
	err error
}

func (s *sseWriter) write(b string) {
	if s.err == nil {
		_, s.err = io.WriteString(s.w, b)
	}
}

// data writes one "data:" event; the JSON encoder ends the line, the blank line ends the event.
func (s *sseWriter) data(v any) {
	s.write("data: ")
	if s.err == nil {
		s.err = s.enc.Encode(v)
	}
	s.write("\n")
}

func (s *sseWriter) event(ev traffic.Event) {
	s.data(api.LogEvent{Time: ev.Time, Method: ev.Method, Path: ev.Path, Status: ev.Status, DurationMs: ev.DurationMs,
		Instance: ev.Instance, RequestID: ev.RequestID, Caller: ev.Caller, BytesIn: ev.BytesIn, BytesOut: ev.BytesOut,
		Upstream: ev.Upstream})
}

func (s *sseWriter) dropped(total uint64) {
	s.write("event: " + api.LogsDroppedEvent + "\n")
	s.write(`data: {"dropped":` + strconv.FormatUint(total, 10) + "}\n\n")
}

func (s *sseWriter) comment(text string) { s.write(": " + text + "\n\n") }
