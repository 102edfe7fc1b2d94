package randid

import (
	"strings"
	"testing"
	"time"
)

func TestNewHasPrefixLengthAndAlphabet(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := New("inst_", 10)
		if !strings.HasPrefix(id, "inst_") || len(id) != len("inst_")+10 {
			t.Fatalf("New = %q, want inst_ and 10 characters", id)
		}
		for _, c := range id[len("inst_"):] {
			if !strings.ContainsRune(Alphabet, c) {
				t.Fatalf("%q holds %q, not base62", id, c)
			}
		}
		if seen[id] {
			t.Fatalf("%q drawn twice in 1000 draws of 59 bits", id)
		}
		seen[id] = true
	}
}

// Every character is drawn: with rejection sampling each of the 62 turns up; a modulo bias or
// a short alphabet would leave some out or skew the counts far from 1/62.
func TestBase62IsUniform(t *testing.T) {
	const n = 62 * 2000
	counts := map[rune]int{}
	for _, c := range Base62(n) {
		counts[c]++
	}
	if len(counts) != 62 {
		t.Fatalf("%d distinct characters, want 62", len(counts))
	}
	for c, k := range counts {
		// Expected 2000 each; ±25% is over 10 standard deviations.
		if k < 1500 || k > 2500 {
			t.Errorf("%q drawn %d times in %d, want about 2000", c, k, n)
		}
	}
}

func TestHex(t *testing.T) {
	a, b := Hex(6), Hex(6)
	if len(a) != 12 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Fatalf("Hex(6) = %q, want 12 lowercase hex digits", a)
	}
	if a == b {
		t.Fatalf("two draws of 48 bits are equal: %q", a)
	}
}

// Timed ids sort by their time, down to the millisecond, whatever their random part, and keep
// New's random characters.
func TestTimedSortsByTime(t *testing.T) {
	base := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var prev string
	for _, d := range []time.Duration{0, time.Millisecond, 61 * time.Millisecond, 62 * time.Millisecond, time.Second, time.Hour, 24 * 365 * time.Hour} {
		id := Timed("inst_", base.Add(d), 10)
		if len(id) != len("inst_")+TimeChars+10 || !strings.HasPrefix(id, "inst_") || strings.Trim(id[5:], Alphabet) != "" {
			t.Fatalf("Timed = %q, want inst_, %d time and 10 random base62 characters", id, TimeChars)
		}
		if id <= prev {
			t.Errorf("id at +%v %q does not sort after the one before, %q", d, id, prev)
		}
		prev = id
	}
	a, b := Timed("x", base, 10), Timed("x", base, 10)
	if a == b || a[:1+TimeChars] != b[:1+TimeChars] {
		t.Errorf("two ids of one millisecond: %q and %q; want the same time and different random parts", a, b)
	}
}
