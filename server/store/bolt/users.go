package bolt

import (
	"fmt"
	"time"

	"github.com/ooctl/oo/server/store"

	bbolt "go.etcd.io/bbolt"
)

// CreateUser stores u and indexes its slug in one transaction. A taken slug or id is
// store.ErrConflict; the index is the single place slug uniqueness is decided, so two concurrent
// registrations of one slug cannot both win.
func (s *Store) CreateUser(u store.UserRecord) error {
	if u.ID == "" || u.Slug == "" {
		return fmt.Errorf("create user: id and slug are required")
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		users, slugs := tx.Bucket(bucketUsers), tx.Bucket(bucketSlugs)
		if slugs.Get([]byte(u.Slug)) != nil {
			return fmt.Errorf("slug %q: %w", u.Slug, store.ErrConflict)
		}
		if users.Get([]byte(u.ID)) != nil {
			return fmt.Errorf("user id %q: %w", u.ID, store.ErrConflict)
		}
		if err := putJSON(users, u.ID, u); err != nil {
			return err
		}
		return slugs.Put([]byte(u.Slug), []byte(u.ID))
	})
}

// GetUser returns the user with id, or store.ErrNotFound.
func (s *Store) GetUser(id string) (store.UserRecord, error) {
	var u store.UserRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		return getJSON(tx.Bucket(bucketUsers), id, &u)
	})
	return u, err
}

// GetUserBySlug returns the user owning slug, or store.ErrNotFound.
func (s *Store) GetUserBySlug(slug string) (store.UserRecord, error) {
	var u store.UserRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		id := tx.Bucket(bucketSlugs).Get([]byte(slug))
		if id == nil {
			return store.ErrNotFound
		}
		return getJSON(tx.Bucket(bucketUsers), string(id), &u)
	})
	return u, err
}

// ListUsers returns up to limit users (all when limit <= 0) in slug order, and the total
// number of users.
func (s *Store) ListUsers(limit int) ([]store.UserRecord, int, error) {
	var out []store.UserRecord
	total := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		slugs, users := tx.Bucket(bucketSlugs), tx.Bucket(bucketUsers)
		// Walking the slug index gives a stable, human-friendly order for free.
		return slugs.ForEach(func(_, id []byte) error {
			total++
			if limit > 0 && len(out) >= limit {
				return nil
			}
			var u store.UserRecord
			if err := getJSON(users, string(id), &u); err != nil {
				return fmt.Errorf("slug index points at user %s: %w", id, err)
			}
			out = append(out, u)
			return nil
		})
	})
	return out, total, err
}

// SetPassword replaces the user's password hash and, in the same transaction, deletes every
// token of the user except keepTokenID, so a crash cannot leave old sessions alive under a new
// password. It returns the ids of the deleted tokens.
func (s *Store) SetPassword(userID string, hash []byte, now time.Time, keepTokenID string) ([]string, error) {
	var revoked []string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		var u store.UserRecord
		if err := getJSON(users, userID, &u); err != nil {
			return err
		}
		u.PasswordHash = hash
		u.UpdatedAt = now
		if err := putJSON(users, u.ID, u); err != nil {
			return err
		}
		var err error
		revoked, err = deleteTokens(tx.Bucket(bucketTokens), func(t store.TokenRecord) bool {
			return t.UserID == userID && t.ID != keepTokenID
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return revoked, nil
}

// DeleteUser removes the user, its slug from the index and every token of the user in one
// transaction, and returns the ids of the deleted tokens (to drop from the in-memory set).
func (s *Store) DeleteUser(userID string) ([]string, error) {
	var revoked []string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		var u store.UserRecord
		if err := getJSON(users, userID, &u); err != nil {
			return err
		}
		if err := users.Delete([]byte(userID)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSlugs).Delete([]byte(u.Slug)); err != nil {
			return err
		}
		var err error
		revoked, err = deleteTokens(tx.Bucket(bucketTokens), func(t store.TokenRecord) bool { return t.UserID == userID })
		return err
	})
	if err != nil {
		return nil, err
	}
	return revoked, nil
}
