package etcd

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ooctl/oo/server/store"
)

// CreateUser stores u and its slug index in one transaction that requires both keys absent:
// of concurrent registrations of one slug, on any replica, exactly one wins.
func (s *Store) CreateUser(u store.UserRecord) error {
	if u.ID == "" || u.Slug == "" {
		return fmt.Errorf("create user: id and slug are required")
	}
	put, err := opPutJSON(s.Key("users", u.ID), u)
	if err != nil {
		return err
	}
	slugKey := s.Key("slugs", u.Slug)
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.c.Txn(ctx).
		If(absent(slugKey), absent(s.Key("users", u.ID))).
		Then(put, clientv3.OpPut(slugKey, u.ID)).
		Else(clientv3.OpGet(slugKey, clientv3.WithCountOnly())).Commit()
	if err != nil {
		return classify(err)
	}
	if resp.Succeeded {
		return nil
	}
	if resp.Responses[0].GetResponseRange().Count > 0 {
		return fmt.Errorf("slug %q: %w", u.Slug, store.ErrConflict)
	}
	return fmt.Errorf("user id %q: %w", u.ID, store.ErrConflict)
}

// GetUser returns the user with id, or store.ErrNotFound.
func (s *Store) GetUser(id string) (store.UserRecord, error) {
	var u store.UserRecord
	err := s.getJSON(s.Key("users", id), &u)
	return u, err
}

// GetUserBySlug returns the user owning slug, or store.ErrNotFound. The user is read at the
// revision the index was read at, so a user deleted in between is not found rather than torn.
func (s *Store) GetUserBySlug(slug string) (store.UserRecord, error) {
	id, rev, err := s.get(s.Key("slugs", slug))
	if err != nil {
		return store.UserRecord{}, err
	}
	var u store.UserRecord
	err = s.getJSON(s.Key("users", string(id)), &u, clientv3.WithRev(rev))
	return u, err
}

// ListUsers returns up to limit users (all when limit <= 0) in slug order and how many there are,
// the index and the users read at one revision.
func (s *Store) ListUsers(limit int) ([]store.UserRecord, int, error) {
	var ids []string
	var rev int64
	total := 0
	if limit > 0 {
		ctx, cancel := s.ctx()
		prefix := s.Key("slugs", "")
		resp, err := s.c.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithLimit(int64(limit)))
		cancel()
		if err != nil {
			return nil, 0, classify(err)
		}
		for _, kv := range resp.Kvs {
			ids = append(ids, string(kv.Value))
		}
		rev, total = resp.Header.Revision, int(resp.Count)
	} else {
		var err error
		rev, err = s.scan("slugs", 0, func(_ string, id []byte) error {
			ids = append(ids, string(id))
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
		total = len(ids)
	}
	byID := make(map[string]store.UserRecord, len(ids))
	_, err := s.scan("users", rev, func(id string, raw []byte) error {
		var u store.UserRecord
		if err := json.Unmarshal(raw, &u); err != nil {
			return err
		}
		byID[id] = u
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	out := make([]store.UserRecord, 0, len(ids))
	for _, id := range ids {
		u, ok := byID[id]
		if !ok {
			return nil, 0, fmt.Errorf("slug index points at missing user %s", id)
		}
		out = append(out, u)
	}
	return out, total, nil
}

// attempts bounds the retries of a read-check-write that lost a race with another writer.
const attempts = 20

// errContended: a read-check-write lost its race every time.
var errContended = errors.New("etcd store: too many concurrent changes, try again")

// SetPassword replaces the user's hash and deletes every token of the user except keepTokenID.
// Tokens are deleted first and the new hash is written last, in a transaction that also
// requires that the user is unchanged and that no token was added since they were read: a
// session opened meanwhile with the old password cannot survive it, and if the call fails
// half-way the old password is still the one in force. It returns the deleted tokens' ids.
func (s *Store) SetPassword(userID string, hash []byte, now time.Time, keepTokenID string) ([]string, error) {
	return s.changeUser(userID, func(t store.TokenRecord) bool { return t.ID != keepTokenID },
		func(u store.UserRecord) ([]clientv3.Op, error) {
			u.PasswordHash, u.UpdatedAt = hash, now
			put, err := opPutJSON(s.Key("users", u.ID), u)
			return []clientv3.Op{put}, err
		})
}

// DeleteUser removes the user, its slug and its tokens (the user and slug last, as for
// SetPassword), and returns the deleted tokens' ids.
func (s *Store) DeleteUser(userID string) ([]string, error) {
	return s.changeUser(userID, func(store.TokenRecord) bool { return true },
		func(u store.UserRecord) ([]clientv3.Op, error) {
			return []clientv3.Op{clientv3.OpDelete(s.Key("users", u.ID)), clientv3.OpDelete(s.Key("slugs", u.Slug))}, nil
		})
}

// changeUser deletes the user's tokens that drop selects, then commits the ops last builds, on
// the condition that neither the user nor the set of tokens changed since they were read;
// otherwise it starts over.
func (s *Store) changeUser(userID string, drop func(store.TokenRecord) bool, last func(store.UserRecord) ([]clientv3.Op, error)) ([]string, error) {
	userKey := s.Key("users", userID)
	var revoked []string
	for range attempts {
		var u store.UserRecord
		ctx, cancel := s.ctx()
		resp, err := s.c.Get(ctx, userKey)
		cancel()
		if err != nil {
			return nil, classify(err)
		}
		if len(resp.Kvs) == 0 {
			return nil, store.ErrNotFound
		}
		if err := json.Unmarshal(resp.Kvs[0].Value, &u); err != nil {
			return nil, err
		}
		rev, userRev := resp.Header.Revision, resp.Kvs[0].ModRevision
		ids, err := s.tokenIDs(rev, func(t store.TokenRecord) bool { return t.UserID == userID && drop(t) })
		if err != nil {
			return nil, err
		}
		final, err := last(u)
		if err != nil {
			return nil, err
		}
		// All but the deletes that fit beside the final ops go first, unconditionally: a token
		// deleted early is at worst a session to open again.
		fit := max(0, s.chunkSize()-len(final))
		early := max(0, len(ids)-fit)
		deleted, err := s.deleteTokens(ids[:early])
		revoked = append(revoked, deleted...)
		if err != nil {
			return nil, err
		}
		ops := append(s.tokenDeletes(ids[early:]), final...)
		tokens := s.Key("tokens", "")
		ctx, cancel = s.ctx()
		tr, err := s.c.Txn(ctx).If(
			clientv3.Compare(clientv3.ModRevision(userKey), "=", userRev),
			clientv3.Compare(clientv3.ModRevision(tokens), "<", rev+1).WithPrefix(),
		).Then(ops...).Commit()
		cancel()
		if err != nil {
			return nil, classify(err)
		}
		if tr.Succeeded {
			return append(revoked, deletedIDs(ids[early:], tr.Responses)...), nil
		}
	}
	return nil, fmt.Errorf("user %s: %w", userID, errContended)
}
