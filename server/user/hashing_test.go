package user_test

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/user"
)

// medianLogin is the median time of n logins of req (whatever their outcome).
func medianLogin(svc *user.Service, req api.LoginRequest, n int) time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		start := time.Now()
		_, _ = svc.Login(req)
		d[i] = time.Since(start)
	}
	slices.Sort(d)
	return d[n/2]
}

// A login naming no account costs a password hash like a wrong password, so its timing does not
// tell which slugs exist (issue 11; the 400/401 split stays). On the old code the unknown slug
// answered in microseconds, a wrong password in a whole bcrypt.
func TestUnknownSlugTakesAsLongAsWrongPassword(t *testing.T) {
	f := newFixture(t, func(o *user.Options) { o.BcryptCost = 6 })
	if _, err := f.svc.Register(api.RegisterRequest{Slug: "alice", Password: "alice-password"}); err != nil {
		t.Fatal(err)
	}
	wrong := medianLogin(f.svc, api.LoginRequest{Slug: "alice", Password: "wrong-password"}, 5)
	unknown := medianLogin(f.svc, api.LoginRequest{Slug: "nobody", Password: "wrong-password"}, 5)
	// A generous bound: the point is the order of magnitude, on a machine that may be busy.
	if unknown < wrong/3 {
		t.Fatalf("unknown slug: median %v; wrong password: median %v", unknown, wrong)
	}
	_, err := f.svc.Login(api.LoginRequest{Slug: "nobody", Password: "wrong-password"})
	wantStatus(t, "unknown slug", err, http.StatusBadRequest)
	_, err = f.svc.Login(api.LoginRequest{Slug: "alice", Password: "wrong-password"})
	wantStatus(t, "wrong password", err, http.StatusUnauthorized)
}

// Password hashes run at most HashConcurrency at once; a request that cannot get a slot within
// HashWait is a 503 with Retry-After, not one more hash competing for the CPU.
func TestHashingIsBounded(t *testing.T) {
	f := newFixture(t, func(o *user.Options) {
		o.BcryptCost, o.HashConcurrency, o.HashWait = 6, 1, time.Millisecond
	})
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = f.svc.Login(api.LoginRequest{Slug: "admin", Password: "wrong-password"}) })
	}
	wg.Wait()
	busy, wrong := 0, 0
	for _, err := range errs {
		switch apierr.Status(err) {
		case http.StatusServiceUnavailable:
			busy++
			if apierr.RetryAfter(err) < 1 {
				t.Errorf("503 without Retry-After: %v", err)
			}
		case http.StatusUnauthorized:
			wrong++
		default:
			t.Errorf("unexpected %v", err)
		}
	}
	if busy == 0 || wrong == 0 {
		t.Fatalf("%d concurrent logins with one hashing slot: %d answered 401, %d busy; want both", n, wrong, busy)
	}
}
