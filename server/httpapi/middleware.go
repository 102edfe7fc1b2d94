package httpapi

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/ooctl/oo/internal/reqid"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/traffic"
)

// RequestIDHeader is kept when a client sends it, generated otherwise, forwarded to services
// and echoed in the response so one id follows a request through every log.
const RequestIDHeader = reqid.Header

// MaxRequestIDLen bounds a client's X-Request-Id (see reqid.MaxLen).
const MaxRequestIDLen = reqid.MaxLen

// statusRecorder remembers the status and the body bytes sent for the access log, and what the
// proxy notes of a proxied exchange (NoteExchange). It forwards Flush and Unwrap so that
// streaming responses and WebSocket upgrades work through it.
type statusRecorder struct {
	http.ResponseWriter
	status   int
	bytesOut int64
	// instance and caller are the proxy's: the instance tried last and the verified caller.
	instance, caller string
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytesOut += int64(n)
	return n, err
}

// NoteExchange is called by the proxy once a proxied exchange is over (see proxy.Noter).
func (s *statusRecorder) NoteExchange(e *traffic.Exchange) {
	s.instance, s.caller = e.Instance, e.Caller
}

// countingBody counts the request body bytes read, for the access log. Atomic: the proxy's
// Transport may still be reading an upload when the line is written.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (s *statusRecorder) Flush() { _ = s.FlushError() }

// FlushError flushes through whatever wraps the connection's writer below this one: another
// middleware's writer may offer only Unwrap, and asking it for http.Flusher alone would drop
// the flush (a stream would then reach the client in 4 kB lumps).
func (s *statusRecorder) FlushError() error {
	switch w := s.ResponseWriter.(type) {
	case interface{ FlushError() error }:
		return w.FlushError()
	case http.Flusher:
		w.Flush()
		return nil
	}
	return http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// withCommon wraps h with request ids, panic recovery and the access log. The log line is only
// built when info logging is on, so a quiet server spends nothing on it per request.
func withCommon(log *slog.Logger, h http.Handler) http.Handler {
	ids := reqid.New()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The header maps are indexed directly with the canonical key: Get and Set would
		// canonicalise it on every request, and this runs for every proxied request.
		var id string
		if v := r.Header[RequestIDHeader]; len(v) > 0 && reqid.Valid(v[0]) {
			id = v[0]
		}
		if id == "" {
			id = ids.Next()
			// One allocation serves both maps. Each gets its own element, capped at length 1,
			// so an Add on either map reallocates instead of writing into the other's value.
			both := &[2]string{id, id}
			r.Header[RequestIDHeader] = both[0:1:1]
			w.Header()[RequestIDHeader] = both[1:2:2]
		} else {
			w.Header()[RequestIDHeader] = []string{id}
		}

		logOn := log.Enabled(r.Context(), slog.LevelInfo)
		var start time.Time
		if logOn {
			start = time.Now()
		}
		// The recorder is kept even with the access log off: a panic after the response
		// started must not append a JSON error to the body. It is one small allocation,
		// below what the benchmark can see.
		rec := &statusRecorder{ResponseWriter: w}
		w = rec
		var body *countingBody
		if logOn && r.Body != nil && r.Body != http.NoBody {
			body = &countingBody{ReadCloser: r.Body}
			r.Body = body
		}
		accessLog := func(aborted bool) {
			status := rec.status
			if status == 0 && !aborted {
				status = http.StatusOK
			}
			var in int64
			if body != nil {
				in = body.n.Load()
			}
			// The same keys as the proxy's fast path (proxy.fconn.logAccess).
			attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", status), slog.Duration("duration", time.Since(start)),
				slog.String("request_id", id), slog.String("client", r.RemoteAddr),
				slog.String("instance", rec.instance), slog.String("caller", rec.caller),
				slog.Int64("bytes_in", in), slog.Int64("bytes_out", rec.bytesOut)}
			if aborted {
				attrs = append(attrs, slog.Bool("aborted", true))
			}
			log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					// The response was cut off on purpose (a backend broke mid-body); it still
					// gets its access-log line before net/http closes the connection.
					if logOn {
						accessLog(true)
					}
					panic(v)
				}
				log.Error("panic in handler", "method", r.Method, "path", r.URL.Path,
					"request_id", id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if rec.status == 0 {
					WriteJSON(w, http.StatusInternalServerError, api.ErrorResponse{Error: "internal server error"})
				}
			}
			if logOn {
				accessLog(false)
			}
		}()
		h.ServeHTTP(w, r)
	})
}
