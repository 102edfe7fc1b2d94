package registry

import (
	"fmt"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

// Each registration kicks the background loop, and a pass of the loop scans every entry under
// the registry's lock. A burst of registrations must not cost one scan each: that made the
// write path O(N²) (the last 1 000 of 40 000 registrations ran at a fifth of the first 1 000's
// rate over HTTP).
func TestRegistrationBurstDoesNotScanPerRegistration(t *testing.T) {
	r, _ := newReg(t, Options{Tick: time.Hour})
	run(t, r)
	const n = 300
	start := time.Now()
	for i := range n {
		register(t, r, alice, api.RegisterInstanceRequest{URL: fmt.Sprintf("http://127.0.0.1:%d", 20000+i)})
	}
	took := time.Since(start)
	// At most one scan at start, then one per minPass of the burst (the Tick is an hour).
	if limit := int64(2 + took/minPass); r.scans.Load() > limit {
		t.Fatalf("%d registrations in %v made %d scans of every entry, want at most %d", n, took.Round(time.Millisecond), r.scans.Load(), limit)
	}
}
