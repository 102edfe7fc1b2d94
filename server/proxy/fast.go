package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/ooctl/oo/internal/reqid"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/traffic"
)

// FastOptions configure a FastServer. Zero values are net/http's defaults as the server sets
// them.
type FastOptions struct {
	// Log receives the access log line of every fast-path request at info (the same line the
	// server's middleware writes for net/http) and panics at error. nil: the proxy's logger.
	Log *slog.Logger
	// IdleTimeout closes a keep-alive connection that sends no new request; default 120s.
	// The fast path may close it up to 1/64 of it later (at most a second): see idleDeadline.
	IdleTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request head once its first byte arrived; default 10s.
	ReadHeaderTimeout time.Duration
}

// FastServer serves a listener with the proxy's purpose-built HTTP/1.1 data path. Every
// accepted connection is read by a strict parser: a plain proxied request (see
// docs/architecture.md) is forwarded by the goroutine that reads it, over a backend connection
// it owns, with buffers it owns. Everything else — API routes, upgrades, Expect, trailers,
// HTTP/1.0, anything the parser cannot frame beyond doubt — hands the connection, with the
// bytes already read, to Fallback, the net/http server that serves it as before.
type FastServer struct {
	p        *Proxy
	fallback *http.Server
	hand     *handoff
	log      *slog.Logger
	ids      *reqid.Gen
	idle     time.Duration
	hdr      time.Duration

	mu      sync.Mutex
	ln      net.Listener
	conns   map[*fconn]struct{}
	closing atomic.Bool
	aborted atomic.Bool // Close (not Shutdown): requests still with a backend are cancelled
	serving sync.Once
	fbErr   chan error
	stop    chan struct{} // closed by Shutdown or Close: ends finChecks
	stopped sync.Once
	ticks   atomic.Int64 // finChecks' ticks, from 1
	// served counts requests the fast path answered, handed connections it gave to net/http.
	served, handed atomic.Uint64
}

// Stats reports how many requests the fast path answered itself and how many connections it
// handed to net/http.
func (s *FastServer) Stats() (served, handed uint64) { return s.served.Load(), s.handed.Load() }

// NewFastServer returns a server for p whose fallback is the given net/http server (its
// Handler serves everything the fast path does not, API included).
func NewFastServer(p *Proxy, fallback *http.Server, opts FastOptions) *FastServer {
	if opts.Log == nil {
		opts.Log = p.log
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 120 * time.Second
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = 10 * time.Second
	}
	s := &FastServer{p: p, fallback: fallback, log: opts.Log, ids: reqid.New(),
		idle: opts.IdleTimeout, hdr: opts.ReadHeaderTimeout, conns: map[*fconn]struct{}{},
		fbErr: make(chan error, 1), stop: make(chan struct{})}
	s.ticks.Store(1)
	return s
}

// Serve accepts connections on ln until Shutdown or Close; it returns http.ErrServerClosed
// then.
func (s *FastServer) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	if s.hand == nil {
		s.hand = newHandoff(ln.Addr())
	}
	s.mu.Unlock()
	if s.closing.Load() {
		ln.Close()
		return http.ErrServerClosed
	}
	s.serving.Do(func() {
		go func() { s.fbErr <- s.fallback.Serve(s.hand) }()
		go s.finChecks()
	})
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// As net/http does: out of file descriptors is worth waiting out.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		fc := s.newConn(c)
		if fc == nil {
			c.Close()
			continue
		}
		go fc.serve()
	}
}

// Shutdown stops accepting, closes idle connections, waits for in-flight requests to finish
// (their connections then close) and shuts the fallback server down the same way: the
// semantics of http.Server.Shutdown over both paths.
func (s *FastServer) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.stopped.Do(func() { close(s.stop) })
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
	fb := make(chan error, 1)
	go func() { fb <- s.fallback.Shutdown(ctx) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		// Each round also closes those that finished their request since the last.
		if s.closeIdle() == 0 {
			break
		}
		select {
		case <-ctx.Done():
			<-fb
			return ctx.Err()
		case <-tick.C:
		}
	}
	return <-fb
}

// closeIdle closes the idle connections and reports how many are left. The closes happen
// outside s.mu: closing a socket waits for a RawConn.Read on it to return (see cycle), and a
// goroutine inside one may need s.mu (to hand its connection to net/http) before it does.
func (s *FastServer) closeIdle() int {
	s.mu.Lock()
	n := len(s.conns)
	idle := make([]*fconn, 0, n)
	for fc := range s.conns {
		if fc.state.CompareAndSwap(stIdle, stClosed) {
			idle = append(idle, fc)
		}
	}
	s.mu.Unlock()
	for _, fc := range idle {
		fc.sock.Close()
	}
	return n
}

// Close closes the listener and ends every connection at once, both paths. A connection whose
// goroutine is serving a request inside cycle cannot be closed before that request ends (the
// close would wait for it), so each is shut down instead: the client sees the connection end
// at once, the goroutine's next read or write fails, and a backend still working on a request
// is cancelled the next time the watch wakes (within a second); the goroutines close the
// sockets as they end, after Close returns.
func (s *FastServer) Close() error {
	s.aborted.Store(true)
	s.closing.Store(true)
	s.stopped.Do(func() { close(s.stop) })
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	conns := make([]*fconn, 0, len(s.conns))
	for fc := range s.conns {
		conns = append(conns, fc)
	}
	s.mu.Unlock()
	for _, fc := range conns {
		fc.abort()
	}
	return s.fallback.Close()
}

// abort ends the connection for the client without waiting for its goroutine (see Close).
func (fc *fconn) abort() {
	if fc.raw == nil || fc.raw.Control(func(fd uintptr) { _ = shutdownSocket(fd) }) != nil {
		fc.sock.Close()
	}
}

func (s *FastServer) newConn(c net.Conn) *fconn {
	fc := &fconn{s: s, c: c, sock: c, fd: -1}
	if sc, ok := c.(syscall.Conn); ok && rawSteps {
		fc.raw, _ = sc.SyscallConn()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil
	}
	s.conns[fc] = struct{}{}
	return fc
}

func (s *FastServer) forget(fc *fconn) {
	s.mu.Lock()
	delete(s.conns, fc)
	s.mu.Unlock()
}

// Connection states, for Shutdown: an idle connection (between requests, nothing buffered) is
// closed at once, an active one finishes its request first.
const (
	stIdle int32 = iota
	stActive
	stClosed
)

// Buffer sizes of one client connection: a request head must fit in readBufSize (a larger one
// goes to net/http, which accepts up to 1 MB).
const (
	readBufSize  = 16 << 10
	writeBufSize = 16 << 10
)

// connBufs are the buffers of one client connection, recycled: a connection handed to
// net/http after one read, or one that serves a single request, should not cost 50 kB of
// fresh memory.
type connBufs struct{ rbuf, wbuf, out, meta []byte }

var connBufPool = sync.Pool{New: func() any {
	return &connBufs{make([]byte, readBufSize), make([]byte, 0, writeBufSize), make([]byte, 0, readBufSize+1024), make([]byte, 0, 256)}
}}

// fconn is one client connection on the fast path, served by one goroutine.
type fconn struct {
	s         *FastServer
	c         net.Conn
	sock      net.Conn // c as accepted (c becomes a no-op closer once net/http has it)
	state     atomic.Int32
	ip        string // the peer's address without port
	client    string // the peer's address, for the access log and the traffic record
	handed    bool   // the connection went to net/http
	afterPost bool   // the last request was a POST (see readHead)

	rbuf    []byte // rbuf[r0:r1] is read and not yet consumed
	r0, r1  int
	out     []byte // what goes to the backend: the request head, a small body
	wbuf    []byte // what goes to the client
	h       reqHead
	ex      exchange
	headLen int
	rh      resHead

	// The request being served, copied out of rbuf so that the buffer can be reused for its
	// body: the id, and (for the log and error answers) method, path and slug.
	meta                   []byte
	id, method, path, slug []byte
	start                  time.Time
	status                 int
	head                   bool // HEAD request
	backends               [4]*bconn
	dateSec                int64
	date                   [29]byte
	bodyDone               chan bodyResult // the body copier's result, when it runs on its own goroutine

	// For cycle: the client connection's RawConn (nil: cycle is not used; set before serve
	// starts), cycleStep bound once (a method value allocates), the socket while inside
	// cycleStep (else -1), whether a read there came back short, and the verdict it ends with.
	raw         syscall.RawConn
	step        func(fd uintptr) bool
	fd          int
	drained     bool
	cv          verdict
	hdrDeadline bool // the head being read has its ReadHeaderTimeout deadline set
	// waitFrom is the finChecks tick in which the connection began waiting idle after a short
	// read (0: it is not, or finChecks looked since).
	waitFrom atomic.Int64

	// What the traffic recorder and the access log are told of the request being served.
	routed            bool   // Begin was called: the slug is in the route table
	inst              string // the instance tried last
	caller            string // the verified caller's slug
	retries           int
	upstream          traffic.Failure
	bytesIn, bytesOut int64
	bodyIn            atomic.Int64 // body bytes the copier goroutine forwarded
	tx                traffic.Exchange
	// rdl is the read deadline this goroutine last set on c (zero: unknown or none), so that
	// readHead can leave a recent idle deadline in place; see idleDeadline.
	rdl time.Time
}

func (fc *fconn) serve() {
	bufs := connBufPool.Get().(*connBufs)
	fc.rbuf, fc.wbuf, fc.out, fc.meta = bufs.rbuf, bufs.wbuf[:0], bufs.out[:0], bufs.meta[:0]
	defer func() {
		if v := recover(); v != nil {
			fc.s.log.Error("panic in the proxy's fast path", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		} else {
			// Nothing else uses them now: body copiers are joined before a
			// request ends (not so after a panic, whose buffers are left to the GC).
			*bufs = connBufs{fc.rbuf, fc.wbuf, fc.out, fc.meta}
			connBufPool.Put(bufs)
		}
		fc.release()
		fc.c.Close()
		fc.s.forget(fc)
	}()
	fc.client = fc.c.RemoteAddr().String()
	host, _, err := net.SplitHostPort(fc.client)
	if err != nil {
		// No peer address to forward: net/http's path decides what that means.
		fc.handOff()
		return
	}
	fc.ip = host
	if fc.raw == nil {
		// The fast path reads the socket itself (see cycle); where it cannot (Windows),
		// net/http serves every connection.
		fc.handOff()
		return
	}
	fc.step = fc.cycleStep
	for {
		switch fc.cycle() {
		case vFallback:
			fc.handOff()
			return
		case vMore: // the connection ended or timed out between or within requests
			return
		}
		if !fc.serveOne() {
			return
		}
	}
}

// serveOne serves the request whose head readHead read; it reports whether the connection
// goes on to the next.
func (fc *fconn) serveOne() bool {
	fc.afterPost = string(fc.h.method) == "POST"
	keep := fc.serveRequest()
	if fc.ex.streaming {
		fc.rdl = time.Time{} // the body copier set deadlines since
	}
	if fc.handed {
		return false
	}
	fc.s.served.Add(1)
	return keep && !fc.s.closing.Load()
}

// cycle serves requests from inside one RawConn.Read call on the client connection, for as
// long as they are plain enough to be served there (see inPlace). It returns vFast with the
// head of one that is not, for serve to serve outside; vFallback for net/http; vMore when the
// connection ended.
//
// Why: net.Conn's Read always tries read(2) before it parks, and after a response went out
// that read almost always fails with EAGAIN, because the client has not sent its next
// request yet: one wasted system call per request (0.77 of 5.5 per request, measured). The
// runtime's poller is edge-triggered and RawConn.Read resets its readiness only once, on entry,
// so inside the call a read that came back short proves no bytes were left at that moment, and
// any byte that arrives later sets the readiness the next wait returns on: the cycle waits
// without reading first, as nginx does with its ready flag. (A FIN that came with the bytes
// is not proved absent: finChecks looks for it.)
func (fc *fconn) cycle() verdict {
	fc.cv = vMore
	if err := fc.raw.Read(fc.step); err != nil {
		return vMore // a deadline passed or the connection was closed while waiting
	}
	return fc.cv
}

// cycleStep is cycle's RawConn.Read callback: false waits for the client to send more, true
// ends the call with fc.cv set. Each call follows RawConn.Read's reset of the readiness or a
// wait that consumed it, so the first read of each call is always made.
func (fc *fconn) cycleStep(fd uintptr) bool {
	fc.fd, fc.drained = int(fd), false
	if fc.waitFrom.Load() != 0 {
		fc.waitFrom.Store(0)
	}
	for {
		v := fc.readHead()
		if v == vWait {
			if fc.drained && fc.r1 == 0 {
				fc.waitFrom.Store(fc.s.ticks.Load()) // for finChecks; no clock read per request
			}
			fc.fd = -1
			return false
		}
		if v == vFast && fc.inPlace() {
			if fc.serveOne() {
				continue
			}
			v = vMore
		}
		fc.cv, fc.fd = v, -1
		return true
	}
}

// finCheck is finChecks' tick: a connection is looked at once it has waited idle after a short
// read for one to two ticks.
const finCheck = 100 * time.Millisecond

// finChecks looks once at each connection that has waited idle in cycle for a tick or more
// after a short read, and closes it if the client closed its side. A short read proves no bytes were
// left, not that no end of stream was: a client that sends its request and its FIN together
// (a script that half-closes, then reads to EOF) has its FIN behind the request, the poller's
// one event for both already spent, and would otherwise wait for IdleTimeout to see the
// connection close. Looking once is enough: a FIN that arrives after the short read is an
// event of its own, which wakes the wait. Busy keep-alive connections, whose next request
// comes before a whole tick has passed, are never looked at.
func (s *FastServer) finChecks() {
	t := time.NewTicker(finCheck)
	defer t.Stop()
	var due []*fconn
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			// A wait that began in tick k is looked at from tick k+2: it lasted a whole tick.
			cut := s.ticks.Add(1) - 1
			due = due[:0]
			s.mu.Lock()
			for fc := range s.conns {
				if w := fc.waitFrom.Load(); w != 0 && w < cut && fc.waitFrom.CompareAndSwap(w, 0) {
					due = append(due, fc)
				}
			}
			s.mu.Unlock()
			for _, fc := range due {
				if fc.peerClosed() && fc.state.CompareAndSwap(stIdle, stClosed) {
					fc.sock.Close()
				}
			}
			clear(due)
		}
	}
}

// peerClosed reports whether the client closed or reset the connection, looking without
// consuming.
func (fc *fconn) peerClosed() bool {
	closed := false
	err := fc.raw.Control(func(fd uintptr) {
		n, err := peekSocket(fd)
		closed = n == 0 && err != syscall.EAGAIN && err != syscall.EINTR
	})
	return closed && err == nil
}

// inPlace reports whether the request whose head was read can be served inside cycle, which
// holds the client connection's read side: not one that goes to net/http, nor one whose body
// is still to come (a goroutine of its own reads that from the client).
func (fc *fconn) inPlace() bool {
	h := &fc.h
	if bytes.IndexByte(h.slug, '%') >= 0 || reserved(h.path, h.slug) {
		return false
	}
	n, v := fc.bufferedBody(fc.r0 + fc.headLen)
	return v != vFallback && n >= 0
}

// readHead reads until rbuf holds a whole request head (vFast), the parser refuses it
// (vFallback), the connection ends (vMore), or the socket has nothing more to read yet (vWait:
// cycle calls it again once it has).
func (fc *fconn) readHead() verdict {
	for {
		if fc.afterPost && fc.r1-fc.r0 >= 4 {
			// net/http's tolerance of old clients that end a POST body with a CRLF too
			// (RFC 9112 §2.2): up to four CR or LF bytes after a POST are skipped.
			fc.afterPost = false
			for k := 0; k < 4 && (fc.rbuf[fc.r0] == '\r' || fc.rbuf[fc.r0] == '\n'); k++ {
				fc.r0++
			}
		}
		if fc.r1 > fc.r0 && !(fc.afterPost && fc.r1-fc.r0 < 4) {
			n, v := parseRequest(fc.rbuf[fc.r0:fc.r1], &fc.h)
			if v == vFast {
				fc.headLen, fc.hdrDeadline = n, false
				return v
			}
			if v == vFallback || fc.r1-fc.r0 == len(fc.rbuf) {
				return vFallback
			}
		}
		if fc.r0 == fc.r1 {
			fc.r0, fc.r1 = 0, 0
		} else if fc.r0 > 0 {
			fc.r1 = copy(fc.rbuf, fc.rbuf[fc.r0:fc.r1])
			fc.r0 = 0
		}
		if fc.r1 == 0 {
			fc.state.Store(stIdle)
			if fc.s.closing.Load() && fc.state.CompareAndSwap(stIdle, stClosed) {
				return vMore
			}
			fc.idleDeadline()
		} else if !fc.hdrDeadline {
			fc.hdrDeadline = true
			fc.setReadDeadline(time.Now().Add(fc.s.hdr))
		}
		n, err := fc.readClient()
		if err == errWouldBlock {
			return vWait
		}
		if n > 0 && fc.r1 == 0 && !fc.state.CompareAndSwap(stIdle, stActive) {
			return vMore // Shutdown closed it as idle
		}
		fc.r1 += n
		if err != nil {
			return vMore
		}
	}
}

// vWait: readHead needs bytes the client has not sent yet.
const vWait verdict = -1

// errWouldBlock: the client socket has nothing to read yet (inside cycle).
var errWouldBlock = errors.New("would block")

// readClient reads what the client sent into rbuf[r1:] from the socket itself (readHead runs
// inside cycle), never again after a short read: see cycle.
func (fc *fconn) readClient() (int, error) {
	if fc.drained {
		return 0, errWouldBlock
	}
	b := fc.rbuf[fc.r1:]
	n, err := rawRead(fc.fd, b)
	if n < len(b) {
		fc.drained = true
	}
	return n, err
}

// idleSlack is how much later than IdleTimeout an idle keep-alive connection may be closed, as
// a fraction of it (capped at maxIdleSlack).
const (
	idleSlack    = 64
	maxIdleSlack = time.Second
)

// idleDeadline makes sure the connection's read deadline is between IdleTimeout and
// IdleTimeout plus its slack from now. Every SetReadDeadline is a timer update in the runtime's
// netpoller (and can wake the poller thread); on a keep-alive connection serving requests back
// to back, the deadline set for an earlier request is still good for the next one, so it is
// set again about once per slack (once a second at the default 120 s), not once per request.
func (fc *fconn) idleDeadline() {
	lo := time.Now().Add(fc.s.idle)
	slack := min(fc.s.idle/idleSlack, maxIdleSlack)
	if !fc.rdl.Before(lo) && !fc.rdl.After(lo.Add(slack)) {
		return
	}
	fc.setReadDeadline(lo.Add(slack))
}

// setReadDeadline sets the client connection's read deadline, remembering it for idleDeadline.
// Only the goroutine serving the connection calls it; a body copier sets deadlines of its own
// and serve forgets the remembered one after such a request.
func (fc *fconn) setReadDeadline(t time.Time) {
	fc.rdl = t
	_ = fc.c.SetReadDeadline(t)
}

// errTooManyFiles is what Accept fails with when the process is out of file descriptors.
var errTooManyFiles = syscall.EMFILE

// handOff gives the connection, with what was read and not consumed, to net/http.
func (fc *fconn) handOff() {
	fc.s.handed.Add(1)
	fc.handed = true
	fc.release()
	fc.s.forget(fc)
	fc.setReadDeadline(time.Time{})
	var pre []byte
	if fc.r1 > fc.r0 {
		pre = append([]byte(nil), fc.rbuf[fc.r0:fc.r1]...)
	}
	if fc.s.hand.give(&prefixConn{Conn: fc.c, pre: pre}) {
		fc.c = nopCloseConn{fc.c}
	}
	// Else the server is closing: serve closes the connection once it returns (not here: this
	// may run inside cycle's RawConn.Read, which a close would wait for).
}

// nopCloseConn stands in for a connection net/http now owns.
type nopCloseConn struct{ net.Conn }

func (nopCloseConn) Close() error { return nil }

// release returns the backend connections this client connection holds to the shared pool.
func (fc *fconn) release() {
	for i, bc := range fc.backends {
		if bc != nil {
			fc.s.p.idle.put(bc)
			fc.backends[i] = nil
		}
	}
}

// handoff is the listener net/http serves: it accepts the connections the fast path gives up.
type handoff struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newHandoff(addr net.Addr) *handoff {
	return &handoff{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.ch:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

func (h *handoff) Addr() net.Addr { return h.addr }

// give hands c to net/http; false when it no longer accepts (the caller closes c then).
func (h *handoff) give(c net.Conn) bool {
	select {
	case h.ch <- c:
		return true
	case <-h.done:
		return false
	}
}

// prefixConn is a connection whose first bytes were already read by the fast path.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// CloseWrite lets net/http half-close as it does on a TCP connection.
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// reserved reports whether the path goes to the API, as the server's root handler decides it.
func reserved(path, slug []byte) bool {
	if len(path) == 1 {
		return true
	}
	seg := path[1 : 1+len(slug)]
	_, r := api.FirstSegment(unsafe.String(unsafe.SliceData(seg), len(seg)))
	return r
}
