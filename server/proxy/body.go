package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// How reading a client's request body failed, so the answer blames the client and not the
// backend.
const (
	bodyOK int32 = iota
	bodyStalled
	bodyMalformed
)

// clientBody is a proxied request's body as read from the client. With an idle timeout it
// pushes the connection's read deadline forward before every read: a body that stops arriving
// ends the request (and frees the backend connection) after the timeout, one that keeps flowing
// is never cut. It records a failed read for errorHandler.
type clientBody struct {
	rc      io.ReadCloser
	ctl     *http.ResponseController // nil without an idle timeout
	idle    time.Duration
	ended   bool         // EOF seen; only Read touches it, and reads do not overlap
	n       atomic.Int64 // bytes read, for the traffic record (the Transport may still be reading)
	failure atomic.Int32
	err     error // written before failure is stored
}

// clientBodyKey finds a request's clientBody from errorHandler, which is handed a clone of the
// request whose body ReverseProxy has wrapped.
type clientBodyKey struct{}

// watchBody puts a clientBody in place of r's body. Requests without a body (most GETs) never
// come here and pay nothing.
func (p *Proxy) watchBody(tr *tracked, r *http.Request) *http.Request {
	b := &clientBody{rc: r.Body, idle: p.bodyIdle}
	tr.body = b
	w := tr.ResponseWriter
	if b.idle > 0 {
		b.ctl = http.NewResponseController(w)
		// Armed now, not only on the first read: should the answer come before the transport
		// reads anything, net/http drains the body before sending it, and that must end too.
		_ = b.ctl.SetReadDeadline(time.Now().Add(b.idle))
	}
	r = r.WithContext(context.WithValue(r.Context(), clientBodyKey{}, b))
	r.Body = b
	return r
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.ended {
		// The transport reads past Content-Length to check for extra bytes; by then net/http
		// may have closed the inbound body (once the response started), and that read would
		// fail the upload after the fact.
		return 0, io.EOF
	}
	if b.ctl != nil {
		_ = b.ctl.SetReadDeadline(time.Now().Add(b.idle))
	}
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	switch {
	case err == nil:
	case err == io.EOF:
		if b.ctl != nil {
			// The body is complete. net/http now watches the connection for the client going
			// away; a deadline left behind would cancel a long response (a stream) later.
			_ = b.ctl.SetReadDeadline(time.Time{})
		}
		b.ended = true
	case b.failure.Load() == bodyOK:
		b.err = err
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			b.failure.Store(bodyStalled)
		} else if !errors.Is(err, io.ErrUnexpectedEOF) && !isConnError(err) {
			// A framing error (bad chunk size, ...); a body cut short by the client leaving is
			// not worth an answer.
			b.failure.Store(bodyMalformed)
		}
	}
	return n, err
}

func (b *clientBody) Close() error { return b.rc.Close() }

func isConnError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}
