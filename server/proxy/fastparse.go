package proxy

import (
	"bytes"
	"unsafe"
)

// The fast path's parsers decide one of three things about a request head: it is plain and
// framed beyond doubt (fast), more bytes are needed (more), or anything else (fallback: the
// connection, with every byte read so far, goes to net/http, which serves it as it always did).
// They never guess: a byte they do not expect is a fallback, not a repair.
type verdict int8

const (
	vMore verdict = iota
	vFast
	vFallback
)

// Field kinds: what the proxy does with a header line.
const (
	hKeep       uint8 = iota // forwarded as it came
	hDrop                    // hop-by-hop, or replaced by the proxy's own value
	hHost                    // replaced by the instance's host
	hLength                  // Content-Length: framing, rewritten
	hTE                      // Transfer-Encoding: framing, rewritten
	hConnection              // hop-by-hop; "close" is noted
	hXFF                     // X-Forwarded-For: the chain is extended
	hForwarded               // Forwarded: the chain is extended
	hVia                     // Via: the chain is extended (and checked for a loop)
	hReqID                   // X-Request-Id: kept when valid
	hAuth                    // Authorization: forwarded, and read for the caller's identity
	hDate                    // Date (responses): its absence is made up for
	hTrailer                 // Trailer (responses)
	hRefuse                  // something only net/http handles (Upgrade, Expect, TE, Trailer in a request)
)

// field is one header line, as offsets into the head it was parsed from.
type field struct {
	n0, n1, v0, v1 int32 // name and value, the value without surrounding whitespace
	kind           uint8
}

// maxFields bounds the header lines of a fast-path request or response; more is net/http's
// business (requests) or a 502 (responses).
const maxFields = 100

// Body framings.
const (
	bodyNone int8 = iota
	bodyLength
	bodyChunked
	bodyUntilClose // responses only: no length, read to EOF
)

// reqHead is a parsed request head. Slices point into the connection's read buffer.
type reqHead struct {
	method, target, path, slug, host []byte
	fields                           [maxFields]field
	nf                               int
	body                             int8
	length                           int64
	close                            bool
	idOK                             bool // the first X-Request-Id is valid and kept
	auth                             []byte
}

var http11 = []byte("HTTP/1.1")

// parseRequest parses the head at the start of b. On vFast, n is the head's length.
func parseRequest(b []byte, h *reqHead) (n int, v verdict) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return 0, vMore
	}
	if i == 0 || b[i-1] != '\r' || !h.requestLine(b[:i-1]) {
		return 0, vFallback
	}
	h.nf, h.body, h.length, h.close, h.idOK, h.auth, h.host = 0, bodyNone, 0, false, false, nil, nil
	hosts, lengths, tes := 0, 0, 0
	pos := i + 1
	for {
		if h.nf == maxFields {
			return 0, vFallback
		}
		f := &h.fields[h.nf]
		next, done, v := nextField(b, pos, f)
		if v != vFast {
			return 0, v
		}
		pos = next
		if done {
			n = pos
			break
		}
		h.nf++
		name, val := b[f.n0:f.n1], b[f.v0:f.v1]
		f.kind = requestKind(name)
		switch f.kind {
		case hRefuse:
			return 0, vFallback
		case hHost:
			hosts++
			h.host = val
		case hLength:
			lengths++
			l, ok := parseLength(val)
			if !ok {
				return 0, vFallback
			}
			h.length = l
		case hTE:
			tes++
			if !equalFold(val, "chunked") {
				return 0, vFallback
			}
		case hConnection:
			c, ok := connectionTokens(val)
			if !ok {
				return 0, vFallback
			}
			h.close = h.close || c
		case hReqID:
			if f == firstOf(h, hReqID) {
				h.idOK = validID(val)
			}
		case hAuth:
			if h.auth == nil {
				h.auth = val
			}
		}
	}
	// One Host (net/http refuses none or several), at most one framing header, never both:
	// anything else (CL+TE, duplicate or conflicting lengths) is exactly what request smuggling
	// is made of, and stays with net/http's handling.
	if hosts != 1 || !validHost(h.host) || lengths > 1 || tes > 1 || lengths+tes > 1 {
		return 0, vFallback
	}
	switch {
	case tes == 1:
		h.body = bodyChunked
	case lengths == 1 && h.length > 0:
		h.body = bodyLength
	}
	return n, vFast
}

// firstOf is the first field of kind k.
func firstOf(h *reqHead, k uint8) *field {
	for i := 0; i < h.nf; i++ {
		if h.fields[i].kind == k {
			return &h.fields[i]
		}
	}
	return nil
}

// requestLine accepts "METHOD /origin-form-target HTTP/1.1" with a method the fast path
// serves and a target whose bytes net/http forwards unchanged.
func (h *reqHead) requestLine(l []byte) bool {
	sp := bytes.IndexByte(l, ' ')
	if sp < 0 {
		return false
	}
	h.method = l[:sp]
	switch string(h.method) {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS":
	default:
		return false
	}
	rest := l[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp < 0 || !bytes.Equal(rest[sp+1:], http11) {
		return false
	}
	h.target = rest[:sp]
	if len(h.target) == 0 || h.target[0] != '/' || !validTarget(h.target) {
		return false
	}
	h.path = h.target
	if q := bytes.IndexByte(h.target, '?'); q >= 0 {
		h.path = h.target[:q]
	}
	h.slug = h.path[1:]
	if s := bytes.IndexByte(h.slug, '/'); s >= 0 {
		h.slug = h.slug[:s]
	}
	return true
}

// pathByte marks the bytes a path may hold unescaped and be forwarded byte for byte by both
// paths: RFC 3986 unreserved, sub-delims, ':', '@' and '/'. '%' is checked separately.
var pathByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*+,;=:@/" {
		t[c] = true
	}
	return
}()

// validTarget accepts path bytes, valid %XX escapes, and in the query '?' as well.
func validTarget(t []byte) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case pathByte[c]:
		case c == '%':
			if i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2]) {
				return false
			}
			i += 2
		case c == '?':
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// tchar marks RFC 9110 token characters.
var tchar = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c > 0x20 && c < 0x7f && bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), byte(c)) < 0
	}
	return
}()

// parseField parses "name: value" in b[from:to] (the line without its CRLF). The name is a
// token right up to the colon (no whitespace before it: RFC 9112 §5.1); the value is visible
// ASCII, obs-text, spaces and tabs, with surrounding whitespace trimmed. A line that starts
// with whitespace (obs-fold) has no token and is refused.
func parseField(b []byte, from, to int, f *field) bool {
	i := from
	for i < to && tchar[b[i]] {
		i++
	}
	if i == from || i == to || b[i] != ':' {
		return false
	}
	f.n0, f.n1 = int32(from), int32(i)
	i++
	for i < to && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	e := to
	for e > i && (b[e-1] == ' ' || b[e-1] == '\t') {
		e--
	}
	for k := i; k < e; k++ {
		if c := b[k]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	f.v0, f.v1 = int32(i), int32(e)
	return true
}

// requestKind classifies a request header name (any case).
func requestKind(name []byte) uint8 {
	switch len(name) {
	case 2:
		if equalFold(name, "te") {
			return hRefuse
		}
	case 3:
		if equalFold(name, "via") {
			return hVia
		}
	case 4:
		if equalFold(name, "host") {
			return hHost
		}
	case 6:
		if equalFold(name, "expect") {
			return hRefuse
		}
	case 7:
		if equalFold(name, "upgrade") || equalFold(name, "trailer") {
			return hRefuse
		}
	case 9:
		if equalFold(name, "forwarded") {
			return hForwarded
		}
		if equalFold(name, "x-real-ip") {
			return hDrop
		}
	case 10:
		if equalFold(name, "connection") {
			return hConnection
		}
		if equalFold(name, "keep-alive") {
			return hDrop
		}
	case 12:
		if equalFold(name, "x-request-id") {
			return hReqID
		}
	case 13:
		if equalFold(name, "authorization") {
			return hAuth
		}
	case 14:
		if equalFold(name, "content-length") {
			return hLength
		}
	case 15:
		if equalFold(name, "x-forwarded-for") {
			return hXFF
		}
	case 16:
		if equalFold(name, "x-forwarded-host") || equalFold(name, "proxy-connection") {
			return hDrop
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			return hTE
		}
		if equalFold(name, "x-forwarded-proto") {
			return hDrop
		}
	case 18:
		if equalFold(name, "proxy-authenticate") {
			return hDrop
		}
	case 19:
		if equalFold(name, "proxy-authorization") {
			return hDrop
		}
	}
	if ownsHeader(unsafe.String(unsafe.SliceData(name), len(name))) {
		return hDrop
	}
	return hKeep
}

// equalFold compares b with lower, a lower-case ASCII literal.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// parseLength accepts 1 to 18 digits and nothing else (no sign, no spaces, no list).
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// connectionTokens accepts a Connection value made of "close" and "keep-alive" only; any other
// token names a hop-by-hop header (or an upgrade), which net/http's path handles.
func connectionTokens(v []byte) (close, ok bool) {
	for len(v) > 0 {
		tok := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		tok = bytes.Trim(tok, " \t")
		switch {
		case len(tok) == 0:
		case equalFold(tok, "close"):
			close = true
		case equalFold(tok, "keep-alive"):
		default:
			return false, false
		}
	}
	return close, true
}

// validHost accepts a non-empty host[:port] of letters, digits, '.', '-', '_', ':' and the
// brackets of an IPv6 literal; net/http decides anything else.
func validHost(h []byte) bool {
	if len(h) == 0 {
		return false
	}
	for _, c := range h {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// validID is reqid.Valid for bytes.
func validID(id []byte) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// resHead is a parsed response head; slices point into the backend connection's buffer.
type resHead struct {
	status   int
	minor    byte // HTTP/1.x
	fields   [maxFields]field
	nf       int
	body     int8
	length   int64
	close    bool // the backend closes after this response
	hasDate  bool
	trailers bool // a Trailer field announces trailers
}

// parseResponse parses a response head at the start of b: vFast and its length, vMore, or
// vFallback for anything malformed (which the caller answers 502: the request is already
// sent, there is nothing to fall back to).
func parseResponse(b []byte, h *resHead, head bool) (n int, v verdict) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return 0, vMore
	}
	l := b[:i]
	// "HTTP/1.x NNN[ reason]\r"
	if len(l) < 13 || l[len(l)-1] != '\r' || string(l[:7]) != "HTTP/1." || (l[7] != '1' && l[7] != '0') ||
		l[8] != ' ' || !isDigit(l[9]) || !isDigit(l[10]) || !isDigit(l[11]) || (l[12] != ' ' && l[12] != '\r') {
		return 0, vFallback
	}
	for _, c := range l[12 : len(l)-1] {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return 0, vFallback
		}
	}
	h.minor = l[7]
	h.status = int(l[9]-'0')*100 + int(l[10]-'0')*10 + int(l[11]-'0')
	if h.status < 100 {
		return 0, vFallback
	}
	h.nf, h.body, h.length, h.close, h.hasDate, h.trailers = 0, bodyNone, 0, h.minor == '0', false, false
	lengths, chunked, tes := 0, false, 0
	var conn []int // rarely used: Connection fields naming other fields
	pos := i + 1
	for {
		if h.nf == maxFields {
			return 0, vFallback
		}
		f := &h.fields[h.nf]
		next, done, v := nextField(b, pos, f)
		if v != vFast {
			return 0, v
		}
		pos = next
		if done {
			n = pos
			break
		}
		h.nf++
		name, val := b[f.n0:f.n1], b[f.v0:f.v1]
		f.kind = responseKind(name)
		switch f.kind {
		case hLength:
			l, ok := parseLength(val)
			if !ok || (lengths > 0 && l != h.length) {
				return 0, vFallback
			}
			lengths++
			h.length = l
		case hTE:
			tes++
			chunked = equalFold(val, "chunked")
		case hConnection:
			if c, ok := connectionTokens(val); ok {
				h.close = h.close || c
			} else {
				conn = append(conn, h.nf-1)
				if bytes.Contains(bytes.ToLower(val), []byte("close")) {
					h.close = true
				}
			}
			if h.minor == '0' && bytes.Contains(bytes.ToLower(val), []byte("keep-alive")) {
				h.close = false
			}
		case hDate:
			h.hasDate = true
		case hTrailer:
			h.trailers = true
		}
	}
	// A Connection field naming other fields makes them hop-by-hop too.
	for _, ci := range conn {
		dropNamed(b, h, b[h.fields[ci].v0:h.fields[ci].v1])
	}
	switch {
	case h.status < 200 || h.status == 204 || h.status == 304 || head:
		h.body = bodyNone
	case tes > 0:
		if tes > 1 || !chunked {
			return 0, vFallback
		}
		h.body = bodyChunked // RFC 9112 §6.3: chunked wins over a Content-Length, which is dropped
		for k := 0; k < h.nf; k++ {
			if h.fields[k].kind == hLength {
				h.fields[k].kind = hDrop
			}
		}
	case lengths > 0:
		h.body = bodyLength
	default:
		h.body = bodyUntilClose
		h.close = true
	}
	return n, vFast
}

// dropNamed marks the fields named in a Connection value as hop-by-hop.
func dropNamed(b []byte, h *resHead, v []byte) {
	for _, tok := range bytes.Split(v, []byte(",")) {
		tok = bytes.Trim(tok, " \t")
		if len(tok) == 0 {
			continue
		}
		for k := 0; k < h.nf; k++ {
			f := &h.fields[k]
			if bytes.EqualFold(b[f.n0:f.n1], tok) && f.kind != hLength && f.kind != hTE {
				f.kind = hDrop
			}
		}
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// responseKind classifies a response header name (any case): the hop-by-hop fields
// httputil.ReverseProxy removes, the framing, and Date.
func responseKind(name []byte) uint8 {
	switch len(name) {
	case 2:
		if equalFold(name, "te") {
			return hDrop
		}
	case 4:
		if equalFold(name, "date") {
			return hDate
		}
	case 7:
		if equalFold(name, "upgrade") {
			return hDrop
		}
		if equalFold(name, "trailer") {
			return hTrailer
		}
	case 10:
		if equalFold(name, "connection") {
			return hConnection
		}
		if equalFold(name, "keep-alive") {
			return hDrop
		}
	case 14:
		if equalFold(name, "content-length") {
			return hLength
		}
	case 16:
		if equalFold(name, "proxy-connection") {
			return hDrop
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			return hTE
		}
	case 18:
		if equalFold(name, "proxy-authenticate") {
			return hDrop
		}
	case 19:
		if equalFold(name, "proxy-authorization") {
			return hDrop
		}
	}
	return hKeep
}

// maxChunkLine bounds a chunk-size line, extensions included (net/http's limit too).
const maxChunkLine = 4096

// chunkSize parses a chunk-size line at the start of b: hex digits, optional extensions
// (ignored, never forwarded), CRLF. n is the line's length; vMore when it is incomplete. A
// size of 16 hex digits or more, a bare LF or a line longer than maxChunkLine is malformed.
func chunkSize(b []byte) (size int64, n int, v verdict) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		if len(b) >= maxChunkLine {
			return 0, 0, vFallback
		}
		return 0, 0, vMore
	}
	if i >= maxChunkLine || i == 0 || b[i-1] != '\r' {
		return 0, 0, vFallback
	}
	l := b[:i-1]
	k := 0
	for k < len(l) && isHex(l[k]) {
		if k == 15 {
			return 0, 0, vFallback
		}
		size = size<<4 | int64(unhex(l[k]))
		k++
	}
	if k == 0 {
		return 0, 0, vFallback
	}
	// What may follow the digits: whitespace and ";ext" (RFC 9112 §7.1.1); checked for
	// control characters, otherwise ignored.
	for _, c := range l[k:] {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return 0, 0, vFallback
		}
	}
	if rest := bytes.TrimLeft(l[k:], " \t"); len(rest) > 0 && rest[0] != ';' {
		return 0, 0, vFallback
	}
	return size, i + 1, vFast
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// trailerEnd finds the end of a trailer section at the start of b (after the last chunk's
// size line): field lines, each well formed, then an empty line. n is the section's length,
// the final CRLF included.
func trailerEnd(b []byte) (n int, v verdict) {
	pos := 0
	var f field
	for {
		next, done, v := nextField(b, pos, &f)
		switch {
		case v == vMore && len(b) >= 64<<10:
			return 0, vFallback
		case v != vFast:
			return 0, v
		case done:
			return next, vFast
		}
		pos = next
	}
}

// nextField parses the line at b[pos:] of a head or trailer section: a field (into f), or
// the empty line that ends the section (done). next is where the following line starts. A
// line must end in CRLF: a bare LF is refused.
func nextField(b []byte, pos int, f *field) (next int, done bool, v verdict) {
	j := bytes.IndexByte(b[pos:], '\n')
	if j < 0 {
		return 0, false, vMore
	}
	end := pos + j // the '\n'
	if j == 0 || b[end-1] != '\r' {
		return 0, false, vFallback
	}
	if end-1 == pos {
		return end + 1, true, vFast
	}
	if !parseField(b, pos, end-1, f) {
		return 0, false, vFallback
	}
	return end + 1, false, vFast
}

// chunkedLen reports whether b holds a whole chunked body and its length: the fast path
// forwards such a body with the head, without reading from the client again.
func chunkedLen(b []byte) (n int, v verdict) {
	for {
		size, k, v := chunkSize(b[n:])
		if v != vFast {
			return 0, v
		}
		n += k
		if size == 0 {
			t, v := trailerEnd(b[n:])
			if v != vFast {
				return 0, v
			}
			return n + t, vFast
		}
		if int64(len(b)-n) < size+2 {
			return 0, vMore
		}
		n += int(size)
		if b[n] != '\r' || b[n+1] != '\n' {
			return 0, vFallback
		}
		n += 2
	}
}
