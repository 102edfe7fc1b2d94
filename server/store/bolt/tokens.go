package bolt

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ooctl/oo/server/store"

	bbolt "go.etcd.io/bbolt"
)

// PutToken records an issued token.
func (s *Store) PutToken(t store.TokenRecord) error {
	if t.ID == "" || t.UserID == "" {
		return fmt.Errorf("put token: id and user id are required")
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		return putJSON(tx.Bucket(bucketTokens), t.ID, t)
	})
}

// DeleteToken revokes one token; store.ErrNotFound if it was not active.
func (s *Store) DeleteToken(id string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if b.Get([]byte(id)) == nil {
			return store.ErrNotFound
		}
		return b.Delete([]byte(id))
	})
}

// ReplaceToken deletes oldID and records next in one transaction. store.ErrNotFound if oldID is no
// longer active, so of two concurrent refreshes of one token only one succeeds.
func (s *Store) ReplaceToken(oldID string, next store.TokenRecord) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if b.Get([]byte(oldID)) == nil {
			return store.ErrNotFound
		}
		if err := b.Delete([]byte(oldID)); err != nil {
			return err
		}
		return putJSON(b, next.ID, next)
	})
}

// ListTokens returns every active token record, for loading the in-memory set at boot.
func (s *Store) ListTokens() ([]store.TokenRecord, error) {
	var out []store.TokenRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		return forEachJSON(tx.Bucket(bucketTokens), func(t store.TokenRecord) error {
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// DeleteUserTokensExcept deletes every token of userID except keepID and returns the deleted ids.
func (s *Store) DeleteUserTokensExcept(userID, keepID string) ([]string, error) {
	var ids []string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var err error
		ids, err = deleteTokens(tx.Bucket(bucketTokens), func(t store.TokenRecord) bool {
			return t.UserID == userID && t.ID != keepID
		})
		return err
	})
	return ids, err
}

// DeleteExpiredTokens drops tokens that expired at or before now and returns their ids.
func (s *Store) DeleteExpiredTokens(now time.Time) ([]string, error) {
	var ids []string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var err error
		ids, err = deleteTokens(tx.Bucket(bucketTokens), func(t store.TokenRecord) bool {
			return !t.ExpiresAt.After(now)
		})
		return err
	})
	return ids, err
}

// deleteTokens deletes the tokens matching drop. Keys are collected first because bbolt does
// not allow deleting while iterating with ForEach.
func deleteTokens(b *bbolt.Bucket, drop func(store.TokenRecord) bool) ([]string, error) {
	var ids []string
	err := b.ForEach(func(k, raw []byte) error {
		var t store.TokenRecord
		if err := json.Unmarshal(raw, &t); err != nil {
			return fmt.Errorf("token %s: %w", k, err)
		}
		if drop(t) {
			ids = append(ids, string(k))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if err := b.Delete([]byte(id)); err != nil {
			return nil, err
		}
	}
	return ids, nil
}
