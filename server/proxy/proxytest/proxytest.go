// Package proxytest holds test helpers shared by the proxy's tests and the server's: a
// hand-rolled WebSocket (RFC 6455) echo, so upgrades can be tested with the standard library.
package proxytest

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

func wsWrite(w io.Writer, op byte, payload []byte, masked bool) error {
	hdr := []byte{0x80 | op}
	var mbit byte
	if masked {
		mbit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, mbit|byte(n))
	case n <= 0xffff:
		hdr = append(hdr, mbit|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, mbit|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	data := payload
	if masked {
		key := [4]byte{0x12, 0x34, 0x56, 0x78}
		hdr = append(hdr, key[:]...)
		data = make([]byte, len(payload))
		for i := range payload {
			data[i] = payload[i] ^ key[i%4]
		}
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

func wsRead(r io.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return
	}
	op = h[0] & 0x0f
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err = io.ReadFull(r, key[:]); err != nil {
			return
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return
}

// WSEchoHandler upgrades and echoes every frame back until a close frame.
func WSEchoHandler(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "want a websocket upgrade", http.StatusBadRequest)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", wsAccept(r.Header.Get("Sec-WebSocket-Key")))
	brw.Flush()
	for {
		op, payload, err := wsRead(brw)
		if err != nil {
			return
		}
		wsWrite(conn, op, payload, false)
		if op == 8 {
			return
		}
	}
}

// WSEchoRoundTrip upgrades through the proxy at addr and checks that frames of each length
// encoding come back.
func WSEchoRoundTrip(t testing.TB, addr, path string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, addr, key)
	br := bufio.NewReader(conn)
	rsp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rsp.StatusCode != http.StatusSwitchingProtocols || rsp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) {
		t.Fatalf("upgrade answered HTTP %d accept %q", rsp.StatusCode, rsp.Header.Get("Sec-WebSocket-Accept"))
	}
	for _, n := range []int{5, 300, 70000} {
		msg := []byte(strings.Repeat("x", n-1) + "!")
		if err := wsWrite(conn, 1, msg, true); err != nil {
			t.Fatal(err)
		}
		op, got, err := wsRead(br)
		if err != nil || op != 1 || string(got) != string(msg) {
			t.Fatalf("echo of %d bytes: op %d, %d bytes back, %v", n, op, len(got), err)
		}
	}
	if err := wsWrite(conn, 8, nil, true); err != nil {
		t.Fatal(err)
	}
	if op, _, err := wsRead(br); err != nil || op != 8 {
		t.Fatalf("close frame: op %d, %v", op, err)
	}
}
