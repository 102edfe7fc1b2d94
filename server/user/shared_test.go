package user_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/store"
	"github.com/ooctl/oo/server/store/bolt"
	"github.com/ooctl/oo/server/user"
)

// sharedBolt is one bbolt store several services use as if it were etcd: every token change
// gets a revision and is queued for the watchers, which see it only when the test calls
// deliver, so the test decides how late the watch is. The real etcd watch is tested in
// server/store/etcd and across servers in package server.
type sharedBolt struct {
	*bolt.Store
	mu       sync.Mutex
	rev      int64
	pending  []store.TokenEvent
	watchers []func(store.TokenEvent)
	reads    int // ReadToken calls
}

func newSharedBolt(t *testing.T) *sharedBolt {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "oo.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &sharedBolt{Store: st}
}

func (s *sharedBolt) emit(ev store.TokenEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rev++
	ev.Rev = s.rev
	s.pending = append(s.pending, ev)
}

func (s *sharedBolt) emitDeleted(ids []string, err error) ([]string, error) {
	for _, id := range ids {
		s.emit(store.TokenEvent{Deleted: id})
	}
	return ids, err
}

// deliver hands every queued change to every watcher, in order.
func (s *sharedBolt) deliver() {
	s.mu.Lock()
	evs, ws := s.pending, s.watchers
	s.pending = nil
	s.mu.Unlock()
	for _, ev := range evs {
		for _, w := range ws {
			w(ev)
		}
	}
}

func (s *sharedBolt) PutToken(t store.TokenRecord) error {
	if err := s.Store.PutToken(t); err != nil {
		return err
	}
	s.emit(store.TokenEvent{Put: &t})
	return nil
}

func (s *sharedBolt) DeleteToken(id string) error {
	if err := s.Store.DeleteToken(id); err != nil {
		return err
	}
	s.emit(store.TokenEvent{Deleted: id})
	return nil
}

func (s *sharedBolt) ReplaceToken(oldID string, next store.TokenRecord) error {
	if err := s.Store.ReplaceToken(oldID, next); err != nil {
		return err
	}
	s.emit(store.TokenEvent{Deleted: oldID})
	s.emit(store.TokenEvent{Put: &next})
	return nil
}

func (s *sharedBolt) SetPassword(userID string, hash []byte, now time.Time, keep string) ([]string, error) {
	return s.emitDeleted(s.Store.SetPassword(userID, hash, now, keep))
}

func (s *sharedBolt) DeleteUser(userID string) ([]string, error) {
	return s.emitDeleted(s.Store.DeleteUser(userID))
}

func (s *sharedBolt) DeleteExpiredTokens(now time.Time) ([]string, error) {
	return s.emitDeleted(s.Store.DeleteExpiredTokens(now))
}

func (s *sharedBolt) ListTokensAt() ([]store.TokenRecord, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	live, err := s.Store.ListTokens()
	return live, s.rev, err
}

func (s *sharedBolt) WatchTokens(ctx context.Context, _ int64, apply func(store.TokenEvent)) {
	s.mu.Lock()
	s.watchers = append(s.watchers, apply)
	s.mu.Unlock()
	<-ctx.Done()
}

func (s *sharedBolt) ReadToken(id string) (store.TokenRecord, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	live, err := s.Store.ListTokens()
	if err != nil {
		return store.TokenRecord{}, 0, err
	}
	for _, t := range live {
		if t.ID == id {
			return t, s.rev, nil
		}
	}
	return store.TokenRecord{}, s.rev, store.ErrNotFound
}

// replicas starts n services on one shared store.
func replicas(t *testing.T, st *sharedBolt, n int) []*user.Service {
	t.Helper()
	out := make([]*user.Service, n)
	for i := range out {
		svc, err := user.New(st, user.Options{TokenTTL: time.Hour, AdminPassword: adminPW, BcryptCost: bcrypt.MinCost, Shared: st})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Close)
		out[i] = svc
	}
	return out
}

func TestSharedTokenIssuedOnAIsValidOnBBeforeTheWatchDeliversIt(t *testing.T) {
	st := newSharedBolt(t)
	r := replicas(t, st, 2)
	a, b := r[0], r[1]
	tok, err := a.Register(api.RegisterRequest{Slug: "ann", Password: "ann-password"})
	if err != nil {
		t.Fatal(err)
	}
	// The proxy's memory-only check does not know it yet; the API's lookup does.
	if _, err := b.AuthenticateLocal(tok.Token); err == nil {
		t.Fatal("AuthenticateLocal on B accepted a token its watch has not delivered")
	}
	if p, err := b.Authenticate(tok.Token); err != nil || p.Slug != "ann" {
		t.Fatalf("Authenticate on B = %+v, %v; want ann via the store lookup", p, err)
	}
	if _, err := b.AuthenticateLocal(tok.Token); err != nil {
		t.Fatalf("after the lookup B still does not know the token: %v", err)
	}
	// A itself, too, learns it from the store, not from a local add.
	if _, err := a.Authenticate(tok.Token); err != nil {
		t.Fatalf("Authenticate on A: %v", err)
	}
	st.deliver()
	if _, err := a.AuthenticateLocal(tok.Token); err != nil {
		t.Fatalf("after the watch, AuthenticateLocal on A: %v", err)
	}
}

func TestSharedRevocationsReachOtherReplicas(t *testing.T) {
	st := newSharedBolt(t)
	r := replicas(t, st, 2)
	a, b := r[0], r[1]
	tok, err := a.Register(api.RegisterRequest{Slug: "bob", Password: "bob-password"})
	if err != nil {
		t.Fatal(err)
	}
	st.deliver()
	p, err := b.Authenticate(tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeToken(p); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(tok.Token); err == nil {
		t.Fatal("A accepts the token it just revoked")
	}
	if _, err := b.AuthenticateLocal(tok.Token); err != nil {
		t.Fatalf("B refused before the watch delivered the logout (the test's watch is late on purpose): %v", err)
	}
	st.deliver()
	for name, svc := range map[string]*user.Service{"A": a, "B": b} {
		if _, err := svc.Authenticate(tok.Token); err == nil {
			t.Errorf("%s accepts a token logged out on A", name)
		}
	}

	// A password change on B revokes the other tokens on A.
	t1, _ := a.Login(api.LoginRequest{Slug: "bob", Password: "bob-password"})
	t2, _ := a.Login(api.LoginRequest{Slug: "bob", Password: "bob-password"})
	st.deliver()
	p2, err := b.Authenticate(t2.Token)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ChangePassword(p2, api.ChangePasswordRequest{CurrentPassword: "bob-password", NewPassword: "bob-password-2"}); err != nil {
		t.Fatal(err)
	}
	st.deliver()
	if _, err := a.Authenticate(t1.Token); err == nil {
		t.Error("A accepts a token revoked by a password change on B")
	}
	if _, err := a.Authenticate(t2.Token); err != nil {
		t.Errorf("A refuses the token that changed the password (it stays valid): %v", err)
	}
}

func TestSharedLatePutDoesNotUndoALocalLogout(t *testing.T) {
	st := newSharedBolt(t)
	a := replicas(t, st, 1)[0]
	tok, err := a.Register(api.RegisterRequest{Slug: "cy", Password: "cy-password"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(tok.Token) // known through the lookup; the put is still queued
	if err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeToken(p); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	late := st.pending[:len(st.pending)-1] // everything but the deletion
	del := st.pending[len(st.pending)-1]
	st.pending = late
	st.mu.Unlock()
	st.deliver()
	if _, err := a.Authenticate(tok.Token); err == nil {
		t.Fatal("a put delivered late by the watch brought back a token logged out here")
	}
	st.mu.Lock()
	st.pending = []store.TokenEvent{del}
	st.mu.Unlock()
	st.deliver()
	if _, err := a.Authenticate(tok.Token); err == nil {
		t.Fatal("the token came back after its deletion was delivered")
	}
	// Presenting it again and again costs one store read, not one per request.
	st.mu.Lock()
	before := st.reads
	st.mu.Unlock()
	for range 5 {
		if _, err := a.Authenticate(tok.Token); err == nil {
			t.Fatal("a revoked token was accepted")
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.reads-before > 1 {
		t.Errorf("a revoked token presented 5 times cost %d store reads, want at most 1", st.reads-before)
	}
}

func TestSharedUnavailableStoreIsNotARevocation(t *testing.T) {
	st := newSharedBolt(t)
	a := replicas(t, st, 1)[0]
	down := &downStore{sharedBolt: st}
	b, err := user.New(st, user.Options{TokenTTL: time.Hour, AdminPassword: adminPW, BcryptCost: bcrypt.MinCost, Shared: down})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	tok, err := a.Register(api.RegisterRequest{Slug: "dee", Password: "dee-password"})
	if err != nil {
		t.Fatal(err)
	}
	down.down = true
	// A token that may well be live must not be called revoked (clients drop revoked tokens).
	if _, err := b.Authenticate(tok.Token); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Authenticate with the store down = %v, want store.ErrUnavailable (503)", err)
	}
}

type downStore struct {
	*sharedBolt
	down bool
}

func (d *downStore) ReadToken(id string) (store.TokenRecord, int64, error) {
	if d.down {
		return store.TokenRecord{}, 0, store.ErrUnavailable
	}
	return d.sharedBolt.ReadToken(id)
}

// racingStore makes every GetUserBySlug("admin") wait until n callers are there, so that n
// services starting at once all find no admin account and all try to create it.
type racingStore struct {
	user.Store
	wg *sync.WaitGroup
}

func (r racingStore) GetUserBySlug(slug string) (store.UserRecord, error) {
	u, err := r.Store.GetUserBySlug(slug)
	if slug == user.AdminSlug {
		r.wg.Done()
		r.wg.Wait()
	}
	return u, err
}

func TestAdminCreatedOnceByReplicasStartingTogether(t *testing.T) {
	st := newSharedBolt(t)
	const n = 3
	var wg sync.WaitGroup
	wg.Add(n)
	notices := make([]bytes.Buffer, n)
	var start sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		start.Add(1)
		go func() {
			defer start.Done()
			svc, err := user.New(racingStore{st, &wg}, user.Options{TokenTTL: time.Hour, BcryptCost: bcrypt.MinCost, Notice: &notices[i], Shared: st})
			errs[i] = err
			if err == nil {
				t.Cleanup(svc.Close)
			}
		}()
	}
	start.Wait()
	printed := 0
	var pw string
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("replica %d failed to start: %v", i, errs[i])
		}
		out := notices[i].String()
		if strings.Contains(out, "generated password:") {
			printed++
			pw = strings.TrimSpace(strings.Split(strings.Split(out, "generated password:")[1], "\n\n")[1])
		}
	}
	if printed != 1 {
		t.Fatalf("%d replicas printed a generated admin password, want exactly 1", printed)
	}
	svc, err := user.New(st, user.Options{TokenTTL: time.Hour, BcryptCost: bcrypt.MinCost, Shared: st})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.Login(api.LoginRequest{Slug: user.AdminSlug, Password: pw}); err != nil {
		t.Fatalf("the printed admin password %q does not work: %v", pw, err)
	}
}
