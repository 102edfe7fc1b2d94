package proxy

import (
	"net/http"
	"strings"
	"time"

	"github.com/ooctl/oo/server/registry"
	"github.com/ooctl/oo/server/traffic"
)

// tracked is one routed request on the net/http path: the route ServeHTTP looked up (rewrite
// picks from it), the record the traffic recorder and the access log are given, and the writer
// that counts what the client was sent. One allocation holds it all.
type tracked struct {
	http.ResponseWriter
	rt     *registry.Route
	ex     traffic.Exchange
	body   *clientBody // nil for a request without a body
	status int
	failed bool // a write to the client failed
	gone   bool // the client went away before any answer (errorHandler)
	cut    bool // ReverseProxy aborted the response mid-body
}

// Noter is implemented by a ResponseWriter that wants the details of the proxied exchange it
// carried (the server's access-log middleware): the proxy calls it once the exchange is over.
// The Exchange is only valid during the call.
type Noter interface {
	NoteExchange(e *traffic.Exchange)
}

func (p *Proxy) track(w http.ResponseWriter, r *http.Request, rt *registry.Route, slug string) *tracked {
	tr := &tracked{ResponseWriter: w, rt: rt}
	path, _, _ := strings.Cut(r.RequestURI, "?")
	if path == "" {
		path = r.URL.Path // a request built in-process, not read from a client
	}
	tr.ex = traffic.Exchange{Start: time.Now(), Slug: slug, Method: r.Method, Path: path, Client: r.RemoteAddr}
	if v := r.Header["X-Request-Id"]; len(v) > 0 {
		tr.ex.RequestID = v[0]
	}
	p.traffic.Begin(slug)
	return tr
}

// finish completes the record of the exchange and hands it to the recorder and to w.
func (p *Proxy) finish(tr *tracked, w http.ResponseWriter) {
	e := &tr.ex
	e.Duration = time.Since(e.Start)
	e.Status = tr.status
	if tr.gone {
		e.Status = 0 // logged as 499 by the middleware; nobody was answered
	}
	if tr.body != nil {
		e.BytesIn = tr.body.n.Load()
	}
	if tr.cut && !tr.failed && e.Upstream == traffic.NoFailure {
		// The copy failed and not on the client's side: the backend broke off its response.
		e.Upstream = traffic.FailReset
	}
	p.traffic.End(e)
	if n, ok := w.(Noter); ok {
		n.NoteExchange(e)
	}
}

func (tr *tracked) WriteHeader(code int) {
	// Interim responses (100, 103) are not the answer; 101 is, for an upgrade.
	if tr.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		tr.status = code
	}
	tr.ResponseWriter.WriteHeader(code)
}

func (tr *tracked) Write(b []byte) (int, error) {
	if tr.status == 0 {
		tr.status = http.StatusOK
	}
	n, err := tr.ResponseWriter.Write(b)
	tr.ex.BytesOut += int64(n)
	if err != nil {
		tr.failed = true
	}
	return n, err
}

func (tr *tracked) Flush() {
	_ = http.NewResponseController(tr.ResponseWriter).Flush()
}

func (tr *tracked) Unwrap() http.ResponseWriter { return tr.ResponseWriter }
