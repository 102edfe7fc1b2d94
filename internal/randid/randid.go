// Package randid makes the random identifiers of the whole repository from crypto/rand: user,
// token and instance ids and the first-boot password in base62 (each character equally
// likely), per-process names (request-id prefix, the proxy's Via name) in hex.
package randid

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Alphabet is the characters an id is made of.
const Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Base62 returns n base62 characters (about 5.95 bits each). Bytes >= 248 (the largest
// multiple of 62 that fits in a byte) are rejected so that every character is equally likely.
func Base62(n int) string {
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails on supported platforms
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			out = append(out, Alphabet[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out)
}

// New returns prefix followed by n base62 characters.
func New(prefix string, n int) string { return prefix + Base62(n) }

// TimeChars is how many base62 characters Timed spends on the time: milliseconds since 1970
// fit in 7 until the year 2081, after which the prefix wraps (the ids stay unique; they only
// stop sorting after older ones).
const TimeChars = 7

// Timed returns prefix, then at's Unix milliseconds in TimeChars base62 digits, then n random
// base62 characters: as random as New(prefix, n), and ids drawn later sort after earlier
// ones (Alphabet is in byte order). A store keyed by such ids appends new keys at the end of
// its B+tree, so a transaction of many new ids writes a few pages, not one per id.
func Timed(prefix string, at time.Time, n int) string {
	var t [TimeChars]byte
	ms := uint64(at.UnixMilli())
	for i := TimeChars - 1; i >= 0; i-- {
		t[i] = Alphabet[ms%62]
		ms /= 62
	}
	return prefix + string(t[:]) + Base62(n)
}

// Hex returns n random bytes from crypto/rand in lowercase hex (2n characters): for ids that
// only need to differ between processes, such as the request-id prefix and the proxy's Via
// name.
func Hex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
