// Package reqid makes and checks X-Request-Id values: the server's middleware and the proxy's
// fast path both stamp requests with them.
package reqid

import (
	"strconv"
	"sync/atomic"

	"github.com/ooctl/oo/internal/randid"
)

// Header is kept when a client sends a valid one, generated otherwise, forwarded to services
// and echoed in the response so one id follows a request through every log.
const Header = "X-Request-Id"

// MaxLen bounds a client's X-Request-Id: it is echoed, forwarded and logged with every line of
// the request, so a large one would be copied everywhere.
const MaxLen = 128

// Gen makes ids as a per-process random prefix plus a counter: unique enough to grep logs, and
// far cheaper than reading the random source on every proxied request.
type Gen struct {
	prefix string
	n      atomic.Uint64
}

// New returns a generator with a fresh random prefix.
func New() *Gen { return &Gen{prefix: randid.Hex(6) + "-"} }

// Next returns a new id; the string is its only allocation.
func (g *Gen) Next() string {
	var b [40]byte
	return string(g.Append(b[:0]))
}

// Append appends a new id to dst, without allocating when dst has room.
func (g *Gen) Append(dst []byte) []byte {
	return strconv.AppendUint(append(dst, g.prefix...), g.n.Add(1), 36)
}

// Valid accepts 1..MaxLen bytes of visible ASCII; anything else (control characters that could
// forge log lines, spaces, non-ASCII) is to be replaced by a generated id.
func Valid[S string | []byte](id S) bool {
	if len(id) == 0 || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
