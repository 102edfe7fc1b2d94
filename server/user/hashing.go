package user

import (
	"crypto/rand"
	"runtime"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ooctl/oo/server/apierr"
)

// DefaultHashWait is how long a login or registration waits for a hashing slot before it is
// answered 503: longer than a short burst of logins takes, short enough that a flood is told to
// come back rather than piling up.
const DefaultHashWait = 10 * time.Second

// DefaultHashConcurrency is half the CPUs the process may use, at least one: password hashing
// is deliberately slow CPU work, and without a bound a login flood takes every core from the
// proxy.
func DefaultHashConcurrency() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// hasher runs bcrypt with a bound on how many hashes run at once.
type hasher struct {
	cost  int
	slots chan struct{}
	wait  time.Duration
	// decoy is a hash of a random password at cost, compared against when a login names no
	// account, so that an unknown slug costs as much time as a wrong password.
	decoy []byte
}

func newHasher(cost, concurrency int, wait time.Duration) (*hasher, error) {
	if concurrency <= 0 {
		concurrency = DefaultHashConcurrency()
	}
	if wait <= 0 {
		wait = DefaultHashWait
	}
	h := &hasher{cost: cost, slots: make(chan struct{}, concurrency), wait: wait}
	var err error
	h.decoy, err = bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	return h, err
}

// acquire takes a hashing slot, waiting at most h.wait for one.
func (h *hasher) acquire() error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-t.C:
		return apierr.Busy(1, "the server is busy checking other passwords; try again shortly")
	}
}

func (h *hasher) release() { <-h.slots }

// hash makes the stored form of a new password.
func (h *hasher) hash(password string) ([]byte, error) {
	if err := h.acquire(); err != nil {
		return nil, err
	}
	defer h.release()
	return bcrypt.GenerateFromPassword([]byte(password), h.cost)
}

// matches reports whether password is the one hashed in stored. A nil stored is compared
// against the decoy (and never matches), so that the caller spends the same time either way.
func (h *hasher) matches(stored []byte, password string) (bool, error) {
	if err := h.acquire(); err != nil {
		return false, err
	}
	defer h.release()
	if stored == nil {
		_ = bcrypt.CompareHashAndPassword(h.decoy, []byte(password))
		return false, nil
	}
	return bcrypt.CompareHashAndPassword(stored, []byte(password)) == nil, nil
}
