package metrics

import (
	"time"

	"github.com/ooctl/oo/server/store"
)

// Store returns st with every write timed into oo_store_write_duration_seconds; reads pass
// through untouched. A nil *Metrics returns st itself.
func (m *Metrics) Store(st store.Store) store.Store {
	if m == nil {
		return st
	}
	return timedStore{Store: st, m: m}
}

// timedStore times the writes of the store it embeds. The op label is the method's name, a
// fixed set.
type timedStore struct {
	store.Store
	m *Metrics
}

func (s timedStore) PutMetaIfAbsent(key string, value []byte) ([]byte, error) {
	defer s.m.storeWrite("put_meta", time.Now())
	return s.Store.PutMetaIfAbsent(key, value)
}

func (s timedStore) CreateUser(u store.UserRecord) error {
	defer s.m.storeWrite("create_user", time.Now())
	return s.Store.CreateUser(u)
}

func (s timedStore) SetPassword(userID string, hash []byte, now time.Time, keep string) ([]string, error) {
	defer s.m.storeWrite("set_password", time.Now())
	return s.Store.SetPassword(userID, hash, now, keep)
}

func (s timedStore) DeleteUser(userID string) ([]string, error) {
	defer s.m.storeWrite("delete_user", time.Now())
	return s.Store.DeleteUser(userID)
}

func (s timedStore) PutToken(t store.TokenRecord) error {
	defer s.m.storeWrite("put_token", time.Now())
	return s.Store.PutToken(t)
}

func (s timedStore) DeleteToken(id string) error {
	defer s.m.storeWrite("delete_token", time.Now())
	return s.Store.DeleteToken(id)
}

func (s timedStore) ReplaceToken(oldID string, next store.TokenRecord) error {
	defer s.m.storeWrite("replace_token", time.Now())
	return s.Store.ReplaceToken(oldID, next)
}

func (s timedStore) DeleteUserTokensExcept(userID, keepID string) ([]string, error) {
	defer s.m.storeWrite("delete_user_tokens", time.Now())
	return s.Store.DeleteUserTokensExcept(userID, keepID)
}

func (s timedStore) DeleteExpiredTokens(now time.Time) ([]string, error) {
	defer s.m.storeWrite("delete_expired_tokens", time.Now())
	return s.Store.DeleteExpiredTokens(now)
}

func (s timedStore) WriteInstances(ws []store.InstanceWrite) error {
	defer s.m.storeWrite("write_instances", time.Now())
	return s.Store.WriteInstances(ws)
}
