package user_test

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/store"
	"github.com/ooctl/oo/server/store/bolt"
	"github.com/ooctl/oo/server/user"
)

// unansweringStore is a store whose reads of accounts time out (etcd down) once down is set,
// and which counts the account writes tried.
type unansweringStore struct {
	user.Store
	down    atomic.Bool
	creates atomic.Int32
}

func (u *unansweringStore) GetUserBySlug(slug string) (store.UserRecord, error) {
	if u.down.Load() {
		return store.UserRecord{}, store.ErrUnavailable
	}
	return u.Store.GetUserBySlug(slug)
}

func (u *unansweringStore) CreateUser(r store.UserRecord) error {
	u.creates.Add(1)
	if u.down.Load() {
		return store.ErrUnavailable
	}
	return u.Store.CreateUser(r)
}

// TestRegisterFailsAtOnceWhenTheStoreDoesNotAnswer: a registration whose slug lookup found the
// store away answers 503 from that, without hashing a password and waiting for a second timeout
// on the write (it took two request timeouts, 4 s on etcd).
func TestRegisterFailsAtOnceWhenTheStoreDoesNotAnswer(t *testing.T) {
	b, err := bolt.Open(filepath.Join(t.TempDir(), "oo.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	st := &unansweringStore{Store: b}
	svc, err := user.New(st, user.Options{TokenTTL: time.Hour, AdminPassword: adminPW, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	st.down.Store(true)
	st.creates.Store(0) // the admin account New made
	_, err = svc.Register(api.RegisterRequest{Slug: "dora", Password: "dora-password"})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Register with the store away = %v, want store.ErrUnavailable (503)", err)
	}
	if n := st.creates.Load(); n != 0 {
		t.Errorf("Register tried %d account writes after the store did not answer the lookup, want 0", n)
	}
}
