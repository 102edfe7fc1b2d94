// Package randid makes the random identifiers of the whole repository from crypto/rand: user,
// token and instance ids and the first-boot password in base62 (each character equally
// likely), per-process names (request-id prefix, the proxy's Via name) in hex.
package randid

import (
	"crypto/rand"
	"encoding/hex"
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

// Hex returns n random bytes from crypto/rand in lowercase hex (2n characters): for ids that
// only need to differ between processes, such as the request-id prefix and the proxy's Via
// name.
func Hex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
