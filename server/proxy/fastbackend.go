package proxy

import (
	"context"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/registry"
)

// bconn is a keep-alive connection to one instance, used by one client connection at a time:
// the goroutine serving the client writes the request and reads the response itself.
type bconn struct {
	c      net.Conn
	raw    syscall.RawConn // for the liveness check; nil when unavailable
	host   string
	buf    []byte // buf[b0:b1] is read and not yet consumed
	b0, b1 int
	hb     int // the response head's length, once read
	reused bool
	idle   time.Time // when it was last put aside
	rdl    time.Time // the read deadline last set on c (see arm)

	// The request writeRead is to write (nil: none), and the result of its read.
	pend []byte
	rn   int
	rerr error
	step func(fd uintptr) bool // bc.rawStep, bound once: a method value allocates
}

const (
	backendBufSize = 16 << 10
	maxRspHead     = 1 << 20
)

func (bc *bconn) close() { bc.c.Close() }

// fill makes room in buf for another read: consumed bytes are dropped, and a head larger than
// the buffer grows it (up to maxRspHead).
func (bc *bconn) fill() error {
	switch {
	case bc.b0 == bc.b1:
		bc.b0, bc.b1 = 0, 0
	case bc.b1 < len(bc.buf):
	case bc.b0 > 0:
		bc.b1 = copy(bc.buf, bc.buf[bc.b0:bc.b1])
		bc.b0 = 0
	case len(bc.buf) < maxRspHead:
		nb := make([]byte, 2*len(bc.buf))
		copy(nb, bc.buf[:bc.b1])
		bc.buf = nb
	default:
		return errRspTooLarge
	}
	return nil
}

// backendFor returns a connection to t: one this client connection used before, one from the
// shared idle pool, or a new one. check asks for a liveness check of a reused connection (for
// a request that could not be retried should the backend have closed it while idle).
func (fc *fconn) backendFor(t *registry.Target, check bool) (*bconn, error) {
	for i, bc := range fc.backends {
		if bc != nil && bc.host == t.Host {
			fc.backends[i] = nil
			if !check || bc.alive() {
				return bc, nil
			}
			bc.close()
			break
		}
	}
	for {
		bc := fc.s.p.idle.get(t.Host)
		if bc == nil {
			break
		}
		if !check || bc.alive() {
			return bc, nil
		}
		bc.close()
	}
	return fc.dial(t)
}

func (fc *fconn) dial(t *registry.Target) (*bconn, error) {
	c, err := fc.s.p.dial(context.Background(), "tcp", t.Host)
	if err != nil {
		return nil, err
	}
	bc := &bconn{c: c, host: t.Host, buf: make([]byte, backendBufSize)}
	if sc, ok := c.(syscall.Conn); ok {
		bc.raw, _ = sc.SyscallConn()
	}
	if bc.raw != nil && rawSteps {
		bc.step = bc.rawStep
	}
	return bc, nil
}

// writeRead writes the request in bc.pend, then reads the start of the response into
// bc.buf[bc.b1:], parking in the poller in between. net.Conn's Read always tries read(2)
// before it parks, and right after the request went out that read fails with EAGAIN: the
// backend has not answered yet. Here the poller's readiness is reset (by RawConn.Read) before
// the write, so an answer that comes at any time after it wakes the wait, and the only read is
// the one that finds it. If the socket does not take the whole request, the rest goes out with
// a plain Write and the read is a plain Read. A deadline that passes before the write leaves
// bc.pend in place for the next call.
func (bc *bconn) writeRead() (int, error) {
	bc.rn, bc.rerr = 0, nil
	err := bc.raw.Read(bc.step)
	if err == nil {
		err = bc.rerr
	}
	if err != nil {
		return 0, err
	}
	if bc.pend != nil {
		_, err := bc.c.Write(bc.pend)
		bc.pend = nil
		if err != nil {
			return 0, err
		}
		return bc.c.Read(bc.buf[bc.b1:])
	}
	return bc.rn, nil
}

// opError is the error net.Conn would have returned for a failed system call.
func (bc *bconn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: bc.c.LocalAddr(), Addr: bc.c.RemoteAddr(), Err: os.NewSyscallError(op, err)}
}

// keepBackend puts bc aside for this client connection's next request, the oldest of a full
// set going to the shared pool.
func (fc *fconn) keepBackend(bc *bconn) {
	bc.reused = true
	bc.idle = fc.start
	bc.b0, bc.b1 = 0, 0
	for i := range fc.backends {
		if fc.backends[i] == nil {
			fc.backends[i] = bc
			return
		}
	}
	fc.s.p.idle.put(fc.backends[0])
	copy(fc.backends[:], fc.backends[1:])
	fc.backends[len(fc.backends)-1] = bc
}

// idlePool holds the keep-alive connections no client connection holds: those of clients
// that left, for the next ones.
type idlePool struct {
	mu    sync.Mutex
	conns map[string][]*bconn
	max   int           // per host
	ttl   time.Duration // a connection idle longer is closed instead of reused
}

func (ip *idlePool) get(host string) *bconn {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	l := ip.conns[host]
	// Oldest first: drop the expired ones.
	cut := time.Now().Add(-ip.ttl)
	for len(l) > 0 && l[0].idle.Before(cut) {
		l[0].close()
		l = l[1:]
	}
	if len(l) == 0 {
		delete(ip.conns, host)
		return nil
	}
	bc := l[len(l)-1]
	ip.conns[host] = l[:len(l)-1]
	return bc
}

func (ip *idlePool) put(bc *bconn) {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	if ip.conns == nil {
		ip.conns = map[string][]*bconn{}
	}
	l := ip.conns[bc.host]
	if len(l) >= ip.max {
		bc.close()
		return
	}
	ip.conns[bc.host] = append(l, bc)
}

func (ip *idlePool) closeAll() {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	for h, l := range ip.conns {
		for _, bc := range l {
			bc.close()
		}
		delete(ip.conns, h)
	}
}

// bearerToken is auth.BearerToken.
func bearerToken(v string) string { return auth.BearerToken(v) }

// peekIdle reports whether an idle socket is open and silent (nothing to read: EAGAIN).
func peekIdle(fd uintptr) bool {
	_, err := peekSocket(fd)
	return err == syscall.EAGAIN
}

// alive reports whether an idle connection is still open and silent: a backend that closed it
// (EOF) or sent something unasked is not reused.
func (bc *bconn) alive() bool {
	if bc.raw == nil {
		return true
	}
	ok := true
	err := bc.raw.Read(func(fd uintptr) bool {
		ok = peekIdle(fd)
		return true
	})
	return ok && err == nil
}
