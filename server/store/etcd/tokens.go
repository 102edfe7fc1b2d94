package etcd

import (
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ooctl/oo/server/store"
)

// PutToken records an issued token.
func (s *Store) PutToken(t store.TokenRecord) error {
	if t.ID == "" || t.UserID == "" {
		return fmt.Errorf("put token: id and user id are required")
	}
	put, err := opPutJSON(s.Key("tokens", t.ID), t)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	_, err = s.c.Do(ctx, put)
	return classify(err)
}

// DeleteToken revokes one token; store.ErrNotFound if it was not active.
func (s *Store) DeleteToken(id string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.c.Delete(ctx, s.Key("tokens", id))
	if err != nil {
		return classify(err)
	}
	if resp.Deleted == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ReplaceToken deletes oldID and records next in one transaction that requires oldID present:
// of concurrent refreshes of one token, on any replica, one succeeds and the others get
// store.ErrNotFound.
func (s *Store) ReplaceToken(oldID string, next store.TokenRecord) error {
	oldKey := s.Key("tokens", oldID)
	put, err := opPutJSON(s.Key("tokens", next.ID), next)
	if err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpDelete(oldKey), put}
	if next.ID == oldID { // etcd refuses a transaction that writes one key twice
		ops = ops[1:]
	}
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.c.Txn(ctx).If(present(oldKey)).Then(ops...).Commit()
	if err != nil {
		return classify(err)
	}
	if !resp.Succeeded {
		return store.ErrNotFound
	}
	return nil
}

// ListTokens returns every active token.
func (s *Store) ListTokens() ([]store.TokenRecord, error) {
	return list[store.TokenRecord](s, "tokens")
}

// DeleteUserTokensExcept deletes every token of userID except keepID and returns the ids it
// deleted.
func (s *Store) DeleteUserTokensExcept(userID, keepID string) ([]string, error) {
	return s.deleteTokensWhere(func(t store.TokenRecord) bool { return t.UserID == userID && t.ID != keepID })
}

// DeleteExpiredTokens drops the tokens that expired at or before now and returns the ids it
// deleted.
func (s *Store) DeleteExpiredTokens(now time.Time) ([]string, error) {
	return s.deleteTokensWhere(func(t store.TokenRecord) bool { return !t.ExpiresAt.After(now) })
}

func (s *Store) deleteTokensWhere(drop func(store.TokenRecord) bool) ([]string, error) {
	ids, err := s.tokenIDs(0, drop)
	if err != nil {
		return nil, err
	}
	return s.deleteTokens(ids)
}

// tokenIDs lists the ids of the tokens drop selects, read at rev (0: now).
func (s *Store) tokenIDs(rev int64, drop func(store.TokenRecord) bool) ([]string, error) {
	var ids []string
	_, err := s.scan("tokens", rev, func(id string, raw []byte) error {
		var t store.TokenRecord
		if err := json.Unmarshal(raw, &t); err != nil {
			return err
		}
		if drop(t) {
			ids = append(ids, id)
		}
		return nil
	})
	return ids, err
}

// deleteTokens deletes ids, in transactions of chunkSize, and returns those that were still
// there (another replica may have deleted some meanwhile).
func (s *Store) deleteTokens(ids []string) ([]string, error) {
	resps, err := s.commitChunks(s.tokenDeletes(ids))
	return deletedIDs(ids, resps), err
}

func (s *Store) tokenDeletes(ids []string) []clientv3.Op {
	ops := make([]clientv3.Op, len(ids))
	for i, id := range ids {
		ops[i] = clientv3.OpDelete(s.Key("tokens", id))
	}
	return ops
}

// deletedIDs returns the ids whose delete (resps[i] for ids[i]) removed a key.
func deletedIDs(ids []string, resps []*etcdserverpb.ResponseOp) []string {
	var out []string
	for i, r := range resps {
		if i < len(ids) && r.GetResponseDeleteRange().GetDeleted() > 0 {
			out = append(out, ids[i])
		}
	}
	return out
}
