package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/egress"
	"github.com/ooctl/oo/server/registry"
	"github.com/ooctl/oo/server/traffic"
)

// watchDelay is how long a backend may take before the client connection is watched for the
// client going away (which then cancels the backend request, as net/http's path does). A
// response that comes sooner costs nothing. The client is then looked at (see peekClient)
// each time the backend read's deadline passes, at gaps that double from watchDelay to
// maxWatchGap: a client that leaves cancels its request within that gap, and a slow stream
// costs one wake-up a second, not a goroutine.
const (
	watchDelay  = 50 * time.Millisecond
	maxWatchGap = time.Second
)

// aLongTimeAgo is a deadline that has passed: it interrupts a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// serveRequest serves the request whose head parseRequest accepted; it reports whether the
// connection may serve another.
func (fc *fconn) serveRequest() bool {
	h := &fc.h
	if bytes.IndexByte(h.slug, '%') >= 0 || reserved(h.path, h.slug) {
		fc.handOff()
		return false
	}
	bodyStart := fc.r0 + fc.headLen
	bodyInBuf, v := fc.bufferedBody(bodyStart)
	if v == vFallback {
		// Malformed and not yet forwarded: net/http answers it as it always did.
		fc.handOff()
		return false
	}
	fc.begin()
	p := fc.s.p
	for i := 0; i < h.nf; i++ {
		if f := &h.fields[i]; f.kind == hVia && bytes.Contains(fc.rbuf[fc.r0+int(f.v0):fc.r0+int(f.v1)], unsafe.Slice(unsafe.StringData(p.via), len(p.via))) {
			slug := string(fc.slug)
			return fc.answer(http.StatusLoopDetected, "loop: an instance of \""+slug+"\" sends requests back to this oo server; "+
				"remove it (oo instance ls --slug "+slug+", then oo instance rm ID) and register the service's own URL", false, bodyInBuf)
		}
	}
	route := p.reg.Table().Lookup(unsafe.String(unsafe.SliceData(fc.slug), len(fc.slug)))
	if route == nil {
		return fc.answer(http.StatusNotFound, "no service is registered under the slug \""+string(fc.slug)+"\"", false, bodyInBuf)
	}
	t := route.Pick()
	if t == nil {
		fc.routed = true
		p.traffic.Begin(unsafe.String(unsafe.SliceData(fc.slug), len(fc.slug)))
		return fc.answer(http.StatusServiceUnavailable, fc.unavailableMsg(), false, bodyInBuf)
	}
	if t.Scheme != "http" {
		// TLS to the backend is the Transport's job; nothing was consumed yet.
		fc.handOff()
		return false
	}
	fc.routed = true
	p.traffic.Begin(unsafe.String(unsafe.SliceData(fc.slug), len(fc.slug)))
	ex := &fc.ex
	ex.reset(fc, bodyStart, bodyInBuf)
	return ex.run(t)
}

// bufferedBody is the length of the request body starting at rbuf[start] when rbuf holds all
// of it, else -1; vFallback for a chunked body the parser refuses.
func (fc *fconn) bufferedBody(start int) (int, verdict) {
	h := &fc.h
	switch h.body {
	case bodyNone:
		return 0, vFast
	case bodyLength:
		if int64(fc.r1-start) >= h.length {
			return int(h.length), vFast
		}
	case bodyChunked:
		n, v := chunkedLen(fc.rbuf[start:fc.r1])
		if v != vMore {
			return n, v
		}
	}
	return -1, vMore
}

// begin copies what outlives the request head (which the body may overwrite) into meta and
// starts the request's clock.
func (fc *fconn) begin() {
	h := &fc.h
	m := fc.meta[:0]
	m = append(m, h.method...)
	m = append(m, h.path...)
	if h.idOK {
		f := firstOf(h, hReqID)
		m = append(m, fc.rbuf[fc.r0+int(f.v0):fc.r0+int(f.v1)]...)
	} else {
		m = fc.s.ids.Append(m)
	}
	fc.meta = m
	a, b := len(h.method), len(h.method)+len(h.path)
	fc.method, fc.path, fc.id = m[:a:a], m[a:b:b], m[b:]
	fc.slug = fc.path[1 : 1+len(h.slug)]
	fc.head = string(fc.method) == "HEAD"
	fc.status = 0
	fc.routed, fc.inst, fc.caller, fc.retries, fc.upstream = false, "", "", 0, traffic.NoFailure
	fc.bytesIn, fc.bytesOut = 0, 0
	fc.bodyIn.Store(0)
	fc.start = time.Now()
}

func (fc *fconn) unavailableMsg() string {
	return "no healthy instance of \"" + string(fc.slug) + "\" right now; try again shortly (oo instance ls shows their status)"
}

// exchange is one proxied request on the fast path.
type exchange struct {
	fc        *fconn
	bodyStart int // where the body starts in rbuf
	bodyInBuf int // the body's length when all of it is in rbuf, else -1
	sent      bool
	streaming bool // the body is copied by its own goroutine
	body      bodyResult
	// deadlines of the backend read: the response-header timeout and when to start watching
	// the client; zero when not armed
	rhtAt, watchAt time.Time
	watchGap       time.Duration // the gap before watchAt, once watching
	inHead         bool
	// bodyFail is the copier's failure as soon as it has one (before its connection close
	// reaches the response read)
	bodyFail atomic.Int32
}

// bodyResult is how copying a request body ended.
type bodyResult struct {
	failure int32 // bodyOK, bodyStalled, bodyMalformed, or bodyGone
	err     error
}

// bodyGone: the client went away mid-body (or the copy was interrupted).
const bodyGone int32 = 10

// backendError wraps a failure of the backend (as opposed to the client).
type backendError struct{ err error }

func (e *backendError) Error() string { return e.err.Error() }
func (e *backendError) Unwrap() error { return e.err }

var (
	errClientGone   = errors.New("the client went away")
	errMalformedRsp = errors.New("malformed HTTP response")
	errRspTooLarge  = errors.New("response head too large")
	errSwitch       = errors.New("the backend switched protocols without being asked to")
)

func (ex *exchange) reset(fc *fconn, bodyStart, bodyInBuf int) {
	ex.fc, ex.bodyStart, ex.bodyInBuf = fc, bodyStart, bodyInBuf
	ex.sent, ex.streaming, ex.body = false, false, bodyResult{}
	ex.rhtAt, ex.watchAt, ex.watchGap, ex.inHead = time.Time{}, time.Time{}, watchDelay/2, false
	ex.bodyFail.Store(bodyOK)
}

func (ex *exchange) run(t *registry.Target) bool {
	fc, p := ex.fc, ex.fc.s.p
	bc, err := ex.try(t)
	if err != nil && !ex.clientFailed() && !errors.Is(err, errClientGone) {
		dialErr := isDialError(err)
		if dialErr {
			p.reg.ReportDialFailure(t.ID, err)
		} else {
			p.reg.ReportSuspect(t.ID)
		}
		// As retrier: another instance when the request certainly did not reach this one or
		// may safely be sent twice. A dial happens before any body byte is read, so a request
		// whose dial failed is replayable whatever its body.
		replayable := fc.h.body == bodyNone || dialErr
		if replayable && (dialErr || idempotent(string(fc.method))) {
			// An https alternative is net/http's; the fast path answers with this failure.
			if alt := p.reg.Table().Lookup(unsafe.String(unsafe.SliceData(fc.slug), len(fc.slug))).Alternative(t.Host); alt != nil && alt.Scheme == "http" {
				fc.retries++
				bc, err = ex.try(alt)
				if err != nil && isDialError(err) {
					p.reg.ReportDialFailure(alt.ID, err)
				}
			}
		}
	}
	if err != nil {
		return ex.fail(err)
	}
	return ex.relay(bc)
}

// try sends the request to t and reads the response head; the backend connection it returns
// is positioned at the response body.
func (ex *exchange) try(t *registry.Target) (*bconn, error) {
	fc := ex.fc
	fc.inst = t.ID
	bc, err := fc.backendFor(t, ex.needsFresh())
	if err != nil {
		return nil, err
	}
	err = ex.roundTrip(bc, t)
	if err != nil && bc.reused && bc.b1 == 0 && fc.h.body == bodyNone && idempotent(string(fc.method)) &&
		!errors.Is(err, errClientGone) && !isTimeout(err) {
		// What the Transport does too: a kept-alive connection the backend closed just before
		// the request went out is retried once on a new connection.
		fc.retries++
		bc.close()
		bc, err = fc.dial(t)
		if err != nil {
			return nil, err
		}
		err = ex.roundTrip(bc, t)
	}
	if err != nil {
		bc.close()
		return nil, err
	}
	return bc, nil
}

// needsFresh: a request that cannot be sent again must not go out on a connection the backend
// may have closed while it was idle; such connections are checked before use.
func (ex *exchange) needsFresh() bool {
	return ex.fc.h.body != bodyNone || !idempotent(string(ex.fc.method))
}

// roundTrip writes the request (its body, if it is not all buffered, from a goroutine of its
// own) and reads the response head into fc.rh, forwarding interim (1xx) responses.
func (ex *exchange) roundTrip(bc *bconn, t *registry.Target) error {
	fc := ex.fc
	fc.out = fc.buildHead(fc.out[:0], t)
	if ex.bodyInBuf > 0 {
		fc.out, fc.bytesIn = appendBody(fc.out, fc.rbuf[ex.bodyStart:ex.bodyStart+ex.bodyInBuf], fc.h.body == bodyChunked)
	}
	ex.sent = true
	if ex.bodyInBuf >= 0 && bc.step != nil && bc.b0 == bc.b1 {
		// The whole request is in fc.out: the first read of the response head writes it
		// (see writeRead).
		bc.pend = fc.out
		return ex.readHead(bc)
	}
	if _, err := bc.c.Write(fc.out); err != nil {
		return &backendError{err}
	}
	if ex.bodyInBuf < 0 {
		ex.streamBody(bc)
	}
	return ex.readHead(bc)
}

// appendBody appends a fully buffered body: as it is for a length, re-chunked for chunks (the
// client's chunk extensions and trailers are not forwarded, as net/http does not). n is the
// body's length without the framing.
func appendBody(out, b []byte, chunked bool) (_ []byte, n int64) {
	if !chunked {
		return append(out, b...), int64(len(b))
	}
	for {
		size, k, _ := chunkSize(b)
		b = b[k:]
		if size == 0 {
			return append(out, "0\r\n\r\n"...), n
		}
		n += size
		out = strconv.AppendInt(out, size, 16)
		out = append(out, "\r\n"...)
		out = append(out, b[:size]...)
		out = append(out, "\r\n"...)
		b = b[size+2:]
	}
}

// readHead reads the response head, forwarding 1xx responses other than 101.
func (ex *exchange) readHead(bc *bconn) error {
	fc := ex.fc
	ex.inHead = true
	defer func() { ex.inHead = false }()
	now := time.Now()
	ex.watchAt = now.Add(watchDelay)
	if d := fc.s.p.rht; d > 0 {
		ex.rhtAt = now.Add(d)
	}
	ex.arm(bc, now)
	for {
		if bc.b1 > bc.b0 {
			n, v := parseResponse(bc.buf[bc.b0:bc.b1], &fc.rh, fc.head)
			switch v {
			case vFallback:
				return &backendError{errMalformedRsp}
			case vFast:
				if fc.rh.status == http.StatusSwitchingProtocols {
					return &backendError{errSwitch}
				}
				if fc.rh.status >= 200 {
					bc.hb = n
					return nil
				}
				if err := fc.interim(bc.buf[bc.b0 : bc.b0+n]); err != nil {
					return errClientGone
				}
				bc.b0 += n
				continue
			}
		}
		if err := bc.fill(); err != nil {
			return &backendError{err}
		}
		if _, err := ex.bread(bc); err != nil {
			return err
		}
	}
}

// armSlack is how much earlier than asked a backend read deadline set for an earlier request
// may fire (see arm).
const armSlack = watchDelay / 8

// arm sets the backend read deadline to the nearest of the response-header timeout and the
// time to start watching the client. Each SetReadDeadline is a timer update in the runtime's
// netpoller; on a connection serving requests back to back, the deadline armed for the
// previous request (now+watchDelay then) is a little earlier than this one's and still in the
// future, so it is kept when it is less than armSlack early: bread takes a deadline that
// fires before its time as spurious and arms again, so the only cost of keeping it is, for a
// backend slower than that, one extra wake-up.
func (ex *exchange) arm(bc *bconn, now time.Time) {
	var d time.Time
	if !ex.watchAt.IsZero() {
		d = ex.watchAt
	}
	if ex.inHead && !ex.rhtAt.IsZero() && (d.IsZero() || ex.rhtAt.Before(d)) {
		d = ex.rhtAt
	}
	if !d.IsZero() && bc.rdl.After(now) && !bc.rdl.After(d) && d.Sub(bc.rdl) < armSlack {
		return
	}
	if d.IsZero() && bc.rdl.IsZero() {
		return
	}
	bc.rdl = d
	_ = bc.c.SetReadDeadline(d)
}

// bread reads from the backend into bc.buf[bc.b1:]. A deadline that passes starts watching the
// client (or, in the head, is the response-header timeout).
func (ex *exchange) bread(bc *bconn) (int, error) {
	fc := ex.fc
	for {
		var n int
		var err error
		if bc.pend != nil {
			n, err = bc.writeRead()
		} else {
			n, err = bc.c.Read(bc.buf[bc.b1:])
		}
		bc.b1 += n
		if n > 0 || err == nil {
			return n, nil
		}
		if ex.clientFailed() {
			return 0, errClientGone
		}
		if !isTimeout(err) {
			return 0, &backendError{err}
		}
		now := time.Now()
		if ex.inHead && !ex.rhtAt.IsZero() && !now.Before(ex.rhtAt) {
			return 0, &backendError{err}
		}
		if !ex.watchAt.IsZero() && !now.Before(ex.watchAt) {
			if fc.s.aborted.Load() {
				bc.close() // FastServer.Close: the request is cancelled like a client's
				return 0, errClientGone
			}
			if ex.streaming && !ex.bodyFinished() {
				ex.watchAt = now.Add(watchDelay) // the body copier is reading the client
			} else {
				ex.joinBody(false)
				switch fc.peekClient(ex.end()) {
				case clientGone:
					bc.close() // cancels the backend request
					return 0, errClientGone
				case clientSentMore:
					// Like net/http, the client is not watched behind its next request; the
					// wake-ups go on only so that Close can cancel the request.
					ex.watchGap = maxWatchGap
					ex.watchAt = now.Add(maxWatchGap)
				default:
					ex.watchGap = min(2*ex.watchGap, maxWatchGap)
					ex.watchAt = now.Add(ex.watchGap)
				}
			}
		}
		ex.arm(bc, now)
	}
}

// interim forwards a 1xx response head as it came, minus hop-by-hop fields.
func (fc *fconn) interim(head []byte) error {
	w := fc.wbuf[:0]
	w = appendStatus(w, fc.rh.status)
	w = appendFields(w, head, &fc.rh)
	w = append(w, "\r\n"...)
	fc.wbuf = w[:0]
	_, err := fc.c.Write(w)
	return err
}

// buildHead writes the outbound request head for target t: the request line as it came, Host
// the instance's, the client's fields minus hop-by-hop ones and those the proxy sets, then
// X-Request-Id (when generated), X-Forwarded-*, X-Real-Ip, Forwarded, Via, the caller's
// identity and the framing — the same set httputil.ReverseProxy with rewrite sends.
func (fc *fconn) buildHead(o []byte, t *registry.Target) []byte {
	h := &fc.h
	p := fc.s.p
	head := fc.rbuf[fc.r0 : fc.r0+fc.headLen]
	o = append(o, h.method...)
	o = append(o, ' ')
	o = append(o, h.target...)
	o = append(o, " HTTP/1.1\r\nHost: "...)
	o = append(o, t.Host...)
	o = append(o, "\r\n"...)
	for i := 0; i < h.nf; i++ {
		f := &h.fields[i]
		switch f.kind {
		case hKeep, hAuth:
		case hReqID:
			if !h.idOK {
				continue
			}
		default:
			continue
		}
		o = append(o, head[f.n0:f.n1]...)
		o = append(o, ": "...)
		o = append(o, head[f.v0:f.v1]...)
		o = append(o, "\r\n"...)
	}
	if !h.idOK {
		o = append(o, "X-Request-Id: "...)
		o = append(o, fc.id...)
		o = append(o, "\r\n"...)
	}
	o = append(o, "X-Forwarded-For: "...)
	o = appendChain(o, head, h, hXFF)
	o = append(o, fc.ip...)
	o = append(o, "\r\nX-Forwarded-Host: "...)
	o = append(o, h.host...)
	o = append(o, "\r\nX-Forwarded-Proto: http\r\nX-Real-Ip: "...)
	o = append(o, fc.ip...)
	o = append(o, "\r\nForwarded: "...)
	o = appendChain(o, head, h, hForwarded)
	o = append(o, "for="...)
	if strings.IndexByte(fc.ip, ':') >= 0 {
		o = append(o, `"[`...)
		o = appendEscaped(o, fc.ip) // a zone (an interface name) may hold a quote
		o = append(o, `]"`...)
	} else {
		o = append(o, fc.ip...)
	}
	o = append(o, `;host="`...)
	o = appendEscaped(o, h.host)
	o = append(o, "\";proto=http\r\nVia: "...)
	o = appendChain(o, head, h, hVia)
	o = append(o, p.via...)
	o = append(o, "\r\n"...)
	if p.identity != nil && h.auth != nil {
		o = fc.appendCaller(o)
	}
	switch {
	case h.body == bodyChunked:
		o = append(o, "Transfer-Encoding: chunked\r\n"...)
	case h.body == bodyLength:
		o = append(o, "Content-Length: "...)
		o = strconv.AppendInt(o, h.length, 10)
		o = append(o, "\r\n"...)
	case string(h.method) == "POST" || string(h.method) == "PUT" || string(h.method) == "PATCH":
		// net/http's Transport announces an empty body for these methods.
		o = append(o, "Content-Length: 0\r\n"...)
	}
	return append(o, "\r\n"...)
}

// appendChain appends the client's values of the fields of kind k joined by ", ", and a
// trailing ", " when there were any: the chain this hop extends.
// appendEscaped appends s as the inside of an RFC 9110 quoted-string (as quoted does).
func appendEscaped[T string | []byte](o []byte, s T) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			o = append(o, '\\')
		}
		o = append(o, s[i])
	}
	return o
}

func appendChain(o, head []byte, h *reqHead, k uint8) []byte {
	for i := 0; i < h.nf; i++ {
		if f := &h.fields[i]; f.kind == k {
			o = append(o, head[f.v0:f.v1]...)
			o = append(o, ", "...)
		}
	}
	return o
}

// appendCaller adds the verified identity of a bearer token, as setCaller does.
func (fc *fconn) appendCaller(o []byte) []byte {
	v := string(fc.h.auth) // Authenticate may keep it; the request is worth an allocation here
	tok := bearerToken(v)
	if tok == "" {
		return o
	}
	who, err := fc.s.p.identity.Authenticate(tok)
	if err != nil {
		return o
	}
	fc.caller = who.Slug
	o = append(o, api.HeaderCallerSlug+": "...)
	o = append(o, who.Slug...)
	o = append(o, "\r\n"+api.HeaderCallerUserID+": "...)
	o = append(o, who.UserID...)
	o = append(o, "\r\n"+api.HeaderCallerRoles+": "...)
	for i, r := range who.Roles {
		if i > 0 {
			o = append(o, ',')
		}
		o = append(o, r...)
	}
	return append(o, "\r\n"...)
}

// streamBody starts the goroutine that copies a body not all in rbuf to the backend. It owns
// rbuf (and the client's read side) until joinBody.
func (ex *exchange) streamBody(bc *bconn) {
	fc := ex.fc
	if fc.bodyDone == nil {
		fc.bodyDone = make(chan bodyResult, 1)
	}
	ex.streaming = true
	ex.body = bodyResult{failure: -1}
	ex.bodyFail.Store(bodyOK)
	go func() {
		r := fc.copyBody(bc.c, ex.bodyStart)
		if r.failure != bodyOK {
			// The backend request is cancelled: its connection is closed, which ends the
			// response read waiting on it, and that read then finds the client to blame.
			ex.bodyFail.Store(r.failure)
			bc.c.Close()
		}
		fc.bodyDone <- r
	}()
}

// end is where this request ends in rbuf, as far as it is known: bytes after it are the
// client's next request.
func (ex *exchange) end() int {
	if ex.streaming {
		return ex.fc.r0
	}
	return ex.bodyStart + ex.bodyInBuf
}

// bodyFinished reports (without blocking) whether the body copier is done, collecting its
// result.
func (ex *exchange) bodyFinished() bool {
	if !ex.streaming {
		return true
	}
	if ex.body.failure >= 0 {
		return true
	}
	select {
	case ex.body = <-ex.fc.bodyDone:
		return true
	default:
		return false
	}
}

// joinBody waits for the body copier, interrupting its client read first if asked.
func (ex *exchange) joinBody(interrupt bool) {
	if !ex.streaming || ex.body.failure >= 0 {
		return
	}
	interrupt = interrupt && ex.bodyFail.Load() == bodyOK // a copier that failed is ending anyway
	if interrupt {
		_ = ex.fc.c.SetReadDeadline(aLongTimeAgo)
	}
	ex.body = <-ex.fc.bodyDone
	if interrupt && ex.body.failure == bodyStalled {
		ex.body.failure = bodyGone // our own deadline, not the client's stall
	}
}

// clientFailed reports, without waiting, whether the body copier gave up on the client.
func (ex *exchange) clientFailed() bool {
	return ex.streaming && ex.bodyFail.Load() != bodyOK
}

// copyBody copies the rest of the request body from the client to the backend, reading into
// rbuf from start; on return rbuf[fc.r0:fc.r1] holds what the client sent after the body.
func (fc *fconn) copyBody(dst net.Conn, start int) bodyResult {
	h := &fc.h
	idle := fc.s.p.bodyIdle
	fc.r0 = start
	read := func() error {
		if fc.r0 == fc.r1 {
			fc.r0, fc.r1 = 0, 0
		} else if fc.r1 == len(fc.rbuf) {
			fc.r1 = copy(fc.rbuf, fc.rbuf[fc.r0:fc.r1])
			fc.r0 = 0
		}
		if idle > 0 {
			_ = fc.c.SetReadDeadline(time.Now().Add(idle))
		} else {
			_ = fc.c.SetReadDeadline(time.Time{})
		}
		n, err := fc.c.Read(fc.rbuf[fc.r1:])
		fc.r1 += n
		if n > 0 {
			return nil
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	clientErr := func(err error) bodyResult {
		if isTimeout(err) {
			return bodyResult{bodyStalled, err}
		}
		return bodyResult{bodyGone, err}
	}
	if h.body == bodyLength {
		left := h.length
		for left > 0 {
			if fc.r0 == fc.r1 {
				if err := read(); err != nil {
					return clientErr(err)
				}
			}
			n := int(min(int64(fc.r1-fc.r0), left))
			if _, err := dst.Write(fc.rbuf[fc.r0 : fc.r0+n]); err != nil {
				return bodyResult{bodyOK, &backendError{err}}
			}
			fc.bodyIn.Add(int64(n))
			fc.r0 += n
			left -= int64(n)
		}
		return bodyResult{bodyOK, nil}
	}
	// Chunked: each chunk is re-framed (extensions dropped); the trailer section is not
	// forwarded (net/http keeps only announced trailers, and a request announcing them is
	// net/http's).
	var line [20]byte
	for {
		size, k, v := chunkSize(fc.rbuf[fc.r0:fc.r1])
		if v == vMore {
			if fc.r0 == 0 && fc.r1 == len(fc.rbuf) {
				return bodyResult{bodyMalformed, errors.New("chunk size line too long")}
			}
			if err := read(); err != nil {
				return clientErr(err)
			}
			continue
		}
		if v == vFallback {
			return bodyResult{bodyMalformed, errors.New("malformed chunk size line")}
		}
		fc.r0 += k
		if size == 0 {
			for {
				n, v := trailerEnd(fc.rbuf[fc.r0:fc.r1])
				if v == vFast {
					fc.r0 += n
					break
				}
				if v == vFallback || fc.r0 == 0 && fc.r1 == len(fc.rbuf) {
					return bodyResult{bodyMalformed, errors.New("malformed trailer section")}
				}
				if err := read(); err != nil {
					return clientErr(err)
				}
			}
			if _, err := dst.Write([]byte("0\r\n\r\n")); err != nil {
				return bodyResult{bodyOK, &backendError{err}}
			}
			return bodyResult{bodyOK, nil}
		}
		if _, err := dst.Write(append(strconv.AppendInt(line[:0], size, 16), '\r', '\n')); err != nil {
			return bodyResult{bodyOK, &backendError{err}}
		}
		for size > 0 {
			if fc.r0 == fc.r1 {
				if err := read(); err != nil {
					return clientErr(err)
				}
			}
			n := int(min(int64(fc.r1-fc.r0), size))
			if _, err := dst.Write(fc.rbuf[fc.r0 : fc.r0+n]); err != nil {
				return bodyResult{bodyOK, &backendError{err}}
			}
			fc.bodyIn.Add(int64(n))
			fc.r0 += n
			size -= int64(n)
		}
		for fc.r1-fc.r0 < 2 {
			if fc.r0 > 0 && fc.r0 == fc.r1 {
				fc.r0, fc.r1 = 0, 0
			}
			if err := read(); err != nil {
				return clientErr(err)
			}
		}
		if fc.rbuf[fc.r0] != '\r' || fc.rbuf[fc.r0+1] != '\n' {
			return bodyResult{bodyMalformed, errors.New("chunk data not followed by CRLF")}
		}
		fc.r0 += 2
		if _, err := dst.Write([]byte("\r\n")); err != nil {
			return bodyResult{bodyOK, &backendError{err}}
		}
	}
}

// relay forwards the response whose head is in fc.rh and bc, then its body; it reports
// whether the client connection may serve another request.
func (ex *exchange) relay(bc *bconn) bool {
	fc := ex.fc
	rh := &fc.rh
	fc.status = rh.status
	headBytes := bc.buf[bc.b0 : bc.b0+bc.hb]
	bc.b0 += bc.hb
	// The client keeps its connection unless it asked otherwise, the server is shutting down,
	// or its request body was not read to the end (checked once the response is out).
	keep := !fc.h.close && !fc.s.closing.Load()
	w := fc.wbuf[:0]
	w = appendStatus(w, rh.status)
	w = append(w, "X-Request-Id: "...)
	w = append(w, fc.id...)
	w = append(w, "\r\n"...)
	w = appendFields(w, headBytes, rh)
	if !rh.hasDate {
		w = fc.appendDate(w)
	}
	chunked := rh.body == bodyChunked || rh.body == bodyUntilClose
	if chunked {
		w = append(w, "Transfer-Encoding: chunked\r\n"...)
	}
	if ex.streaming && !ex.bodyFinished() {
		// The backend answered before the upload ended; as net/http's server does, the
		// connection closes after this response.
		keep = false
	}
	if !keep {
		w = append(w, "Connection: close\r\n"...)
	}
	w = append(w, "\r\n"...)
	fc.wbuf = w
	var err error
	switch rh.body {
	case bodyLength:
		err = ex.relayLength(bc, rh.length)
	case bodyChunked:
		err = ex.relayChunked(bc, rh.trailers)
	case bodyUntilClose:
		err = ex.relayUntilClose(bc)
	}
	logged := false
	if err == nil {
		// The line is written before the response's last bytes leave, as the middleware
		// writes it before net/http finishes the response: a client that has its answer finds
		// the line in the log.
		fc.logAccess(false)
		logged = true
		err = fc.flush()
	}
	reusable := err == nil && !rh.close && bc.b0 == bc.b1
	if err != nil {
		var be *backendError
		switch {
		case errors.As(err, &be):
			fc.upstream = failureOf(be.err)
			fc.s.p.log.Warn("proxy error", "slug", string(fc.slug), "method", string(fc.method), "path", string(fc.path),
				"request_id", string(fc.id), "err", be.err)
		}
		bc.close()
		ex.joinBody(true)
		if !logged {
			fc.logAccess(true)
		}
		return false
	}
	ex.joinBody(true)
	if ex.streaming && ex.body.failure != bodyOK {
		keep, reusable = false, false
	}
	if reusable {
		fc.keepBackend(bc)
	} else {
		bc.close()
	}
	if keep && !ex.streaming {
		fc.r0 = ex.bodyStart + max(ex.bodyInBuf, 0)
	}
	return keep
}

// relayLength copies n body bytes.
func (ex *exchange) relayLength(bc *bconn, n int64) error {
	fc := ex.fc
	for n > 0 {
		if bc.b0 == bc.b1 {
			if err := fc.flush(); err != nil {
				return err
			}
			bc.b0, bc.b1 = 0, 0
			if _, err := ex.bread(bc); err != nil {
				return err
			}
		}
		k := int(min(int64(bc.b1-bc.b0), n))
		if err := fc.write(bc.buf[bc.b0 : bc.b0+k]); err != nil {
			return err
		}
		fc.bytesOut += int64(k)
		bc.b0 += k
		n -= int64(k)
	}
	return nil
}

// relayChunked decodes the backend's chunks and sends the data re-chunked as it arrives; the
// trailer section is forwarded when the response announced trailers.
func (ex *exchange) relayChunked(bc *bconn, trailers bool) error {
	fc := ex.fc
	more := func() error {
		if bc.b0 == bc.b1 {
			bc.b0, bc.b1 = 0, 0
		} else if bc.b1 == len(bc.buf) {
			bc.b1 = copy(bc.buf, bc.buf[bc.b0:bc.b1])
			bc.b0 = 0
		}
		if err := fc.flush(); err != nil {
			return err
		}
		_, err := ex.bread(bc)
		return err
	}
	for {
		size, k, v := chunkSize(bc.buf[bc.b0:bc.b1])
		if v == vMore {
			if err := more(); err != nil {
				return err
			}
			continue
		}
		if v == vFallback {
			return &backendError{errMalformedRsp}
		}
		bc.b0 += k
		if size == 0 {
			for {
				n, v := trailerEnd(bc.buf[bc.b0:bc.b1])
				if v == vFast {
					if err := fc.write([]byte("0\r\n")); err != nil {
						return err
					}
					if trailers {
						if err := fc.write(bc.buf[bc.b0 : bc.b0+n]); err != nil {
							return err
						}
					} else if err := fc.write([]byte("\r\n")); err != nil {
						return err
					}
					bc.b0 += n
					return nil
				}
				if v == vFallback {
					return &backendError{errMalformedRsp}
				}
				if err := more(); err != nil {
					return err
				}
			}
		}
		for size > 0 {
			if bc.b0 == bc.b1 {
				if err := more(); err != nil {
					return err
				}
			}
			k := int(min(int64(bc.b1-bc.b0), size))
			if err := fc.writeChunk(bc.buf[bc.b0 : bc.b0+k]); err != nil {
				return err
			}
			bc.b0 += k
			size -= int64(k)
		}
		for bc.b1-bc.b0 < 2 {
			if err := more(); err != nil {
				return err
			}
		}
		if bc.buf[bc.b0] != '\r' || bc.buf[bc.b0+1] != '\n' {
			return &backendError{errMalformedRsp}
		}
		bc.b0 += 2
	}
}

// relayUntilClose sends a response without length, read to the backend's EOF, chunked.
func (ex *exchange) relayUntilClose(bc *bconn) error {
	fc := ex.fc
	for {
		if bc.b1 > bc.b0 {
			if err := fc.writeChunk(bc.buf[bc.b0:bc.b1]); err != nil {
				return err
			}
		}
		bc.b0, bc.b1 = 0, 0
		if err := fc.flush(); err != nil {
			return err
		}
		_, err := ex.bread(bc)
		var be *backendError
		if errors.As(err, &be) && errors.Is(be.err, io.EOF) {
			return fc.write([]byte("0\r\n\r\n"))
		}
		if err != nil {
			return err
		}
	}
}

// write appends b to the client's buffer, writing the buffer out when b does not fit.
func (fc *fconn) write(b []byte) error {
	if len(fc.wbuf)+len(b) <= cap(fc.wbuf) {
		fc.wbuf = append(fc.wbuf, b...)
		return nil
	}
	if err := fc.flush(); err != nil {
		return err
	}
	if len(b) >= cap(fc.wbuf)/2 {
		if _, err := fc.c.Write(b); err != nil {
			return errClientGone
		}
		return nil
	}
	fc.wbuf = append(fc.wbuf, b...)
	return nil
}

// writeChunk writes b as one chunk of a response body.
func (fc *fconn) writeChunk(b []byte) error {
	fc.bytesOut += int64(len(b))
	var line [20]byte
	if err := fc.write(append(strconv.AppendInt(line[:0], int64(len(b)), 16), '\r', '\n')); err != nil {
		return err
	}
	if err := fc.write(b); err != nil {
		return err
	}
	return fc.write([]byte("\r\n"))
}

func (fc *fconn) flush() error {
	if len(fc.wbuf) == 0 {
		return nil
	}
	_, err := fc.c.Write(fc.wbuf)
	fc.wbuf = fc.wbuf[:0]
	if err != nil {
		return errClientGone
	}
	return nil
}

// appendStatus writes the status line as net/http's server does.
func appendStatus(w []byte, code int) []byte {
	w = append(w, "HTTP/1.1 "...)
	w = strconv.AppendInt(w, int64(code), 10)
	w = append(w, ' ')
	if t := http.StatusText(code); t != "" {
		w = append(w, t...)
	} else {
		w = append(w, "status code "...)
		w = strconv.AppendInt(w, int64(code), 10)
	}
	return append(w, "\r\n"...)
}

// appendFields writes the response's end-to-end fields as they came.
func appendFields(w, head []byte, rh *resHead) []byte {
	for i := 0; i < rh.nf; i++ {
		f := &rh.fields[i]
		switch f.kind {
		case hKeep, hDate, hLength, hTrailer:
		default:
			continue
		}
		w = append(w, head[f.n0:f.n1]...)
		w = append(w, ": "...)
		w = append(w, head[f.v0:f.v1]...)
		w = append(w, "\r\n"...)
	}
	return w
}

// appendDate adds the Date net/http's server adds to a response without one, formatted once a
// second per connection.
func (fc *fconn) appendDate(w []byte) []byte {
	now := time.Now()
	if s := now.Unix(); s != fc.dateSec {
		fc.dateSec = s
		now.UTC().AppendFormat(fc.date[:0], http.TimeFormat)
	}
	w = append(w, "Date: "...)
	w = append(w, fc.date[:]...)
	return append(w, "\r\n"...)
}

// fail answers a request no backend answered, as errorHandler does.
func (ex *exchange) fail(err error) bool {
	fc := ex.fc
	ex.joinBody(true)
	slug := string(fc.slug)
	if ex.streaming {
		switch ex.body.failure {
		case bodyStalled:
			return fc.answer(http.StatusRequestTimeout, "the request body stopped arriving: nothing for "+fc.s.p.bodyIdle.String()+" (the server's --proxy-body-idle-timeout)", true, -1)
		case bodyMalformed:
			return fc.answer(http.StatusBadRequest, "malformed request body: "+ex.body.err.Error(), true, -1)
		case bodyGone:
			err = errClientGone
		}
	}
	if errors.Is(err, errClientGone) {
		// The client went away; the backend request was cancelled with its connection.
		fc.status = 499
		fc.logAccess(false)
		return false
	}
	var be *backendError
	if errors.As(err, &be) {
		err = be.err
	}
	fc.upstream = failureOf(err)
	fc.s.p.log.Warn("proxy error", "slug", slug, "method", string(fc.method), "path", string(fc.path),
		"request_id", string(fc.id), "err", err)
	rest := ex.bodyInBuf
	if ex.sent {
		rest = -1 // the body went to the backend; the client's connection is in an unknown state only if streaming
		if !ex.streaming {
			rest = max(ex.bodyInBuf, 0)
		}
	}
	switch {
	case egress.IsRefused(err):
		return fc.answer(http.StatusBadGateway, "the instance of \""+slug+"\" is not reachable: "+refusal(err), false, rest)
	case isDialError(err):
		return fc.answer(http.StatusServiceUnavailable, fc.unavailableMsg(), false, rest)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fc.answer(http.StatusGatewayTimeout, "the instance of \""+slug+"\" did not answer in time", false, rest)
	default:
		return fc.answer(http.StatusBadGateway, "the instance of \""+slug+"\" failed to answer: "+err.Error(), false, rest)
	}
}

// answer writes one of the proxy's own JSON answers. body is the request body's length when
// it is all in rbuf (skipped, so the connection can serve the next request), -1 when it is
// not (the connection closes after the answer).
func (fc *fconn) answer(status int, msg string, close bool, body int) bool {
	if body < 0 {
		close = true
	}
	keep := !close && !fc.h.close && !fc.s.closing.Load()
	js, _ := json.Marshal(api.ErrorResponse{Error: msg})
	js = append(js, '\n')
	w := fc.wbuf[:0]
	w = appendStatus(w, status)
	w = append(w, "Content-Type: application/json\r\n"...)
	if status == http.StatusServiceUnavailable {
		w = append(w, "Retry-After: "...)
		w = append(w, fc.s.p.retryAfter...)
		w = append(w, "\r\n"...)
	}
	w = append(w, "X-Request-Id: "...)
	w = append(w, fc.id...)
	w = append(w, "\r\n"...)
	w = fc.appendDate(w)
	w = append(w, "Content-Length: "...)
	w = strconv.AppendInt(w, int64(len(js)), 10)
	w = append(w, "\r\n"...)
	if !keep {
		w = append(w, "Connection: close\r\n"...)
	}
	w = append(w, "\r\n"...)
	if !fc.head {
		w = append(w, js...)
		fc.bytesOut += int64(len(js))
	}
	fc.wbuf = w
	fc.status = status
	fc.logAccess(false)
	err := fc.flush()
	if keep && body >= 0 {
		fc.r0 += fc.headLen + body
	}
	return keep && err == nil
}

// logAccess ends the request: it is recorded (when routed) and its access-log line written, the
// line the server's middleware writes for net/http requests. Every request the fast path
// answers comes here exactly once.
func (fc *fconn) logAccess(aborted bool) {
	d := time.Since(fc.start)
	if n := fc.bodyIn.Load(); n > 0 {
		fc.bytesIn = n // a streamed body: what the copier forwarded so far
	}
	status := fc.status
	if status == 0 && !aborted {
		status = http.StatusOK
	}
	if fc.routed {
		fc.routed = false
		fc.record(status, d)
	}
	log := fc.s.log
	ctx := context.Background()
	if !log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	path := string(fc.path)
	if bytes.IndexByte(fc.path, '%') >= 0 {
		if u, err := url.PathUnescape(path); err == nil {
			path = u // net/http logs the decoded path
		}
	}
	attrs := []slog.Attr{slog.String("method", string(fc.method)), slog.String("path", path),
		slog.Int("status", status), slog.Duration("duration", d),
		slog.String("request_id", string(fc.id)), slog.String("client", fc.client),
		slog.String("instance", fc.inst), slog.String("caller", fc.caller),
		slog.Int64("bytes_in", fc.bytesIn), slog.Int64("bytes_out", fc.bytesOut)}
	if aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// record tells the traffic recorder. The Exchange's strings point into the connection's
// buffers (no allocation); the recorder copies what it keeps.
func (fc *fconn) record(status int, d time.Duration) {
	p := fc.s.p
	if p.traffic == nil {
		return
	}
	if status == 499 {
		status = 0 // the client went away: nobody was answered
	}
	path := fc.path
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	fc.tx = traffic.Exchange{Start: fc.start, Duration: d, Slug: unsafeString(fc.slug), Instance: fc.inst,
		Method: unsafeString(fc.method), Path: unsafeString(path), Status: status, BytesIn: fc.bytesIn,
		BytesOut: fc.bytesOut, Upstream: fc.upstream, Retries: fc.retries, RequestID: unsafeString(fc.id),
		Caller: fc.caller, Client: fc.client}
	p.traffic.End(&fc.tx)
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// What peekClient finds.
const (
	clientThere    = iota // connected, nothing sent
	clientSentMore        // the next request's bytes: like net/http, nothing more is watched
	clientGone            // closed or reset
)

// peekClient looks, without consuming or blocking, at whether the client is still there while
// the backend takes its time; bytes already read past end are the client's next request.
func (fc *fconn) peekClient(end int) int {
	if fc.r1 > end {
		return clientSentMore
	}
	r := clientThere
	err := fc.raw.Control(func(fd uintptr) {
		switch n, err := peekSocket(fd); {
		case n > 0:
			r = clientSentMore
		case err != syscall.EAGAIN && err != syscall.EINTR:
			r = clientGone // n == 0: EOF
		}
	})
	if err != nil {
		return clientGone // the server closed it (Close)
	}
	return r
}
