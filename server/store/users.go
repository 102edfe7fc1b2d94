package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// UserContact is a way to reach a user, kept as the client sent it.
type UserContact struct {
	ID       string `json:"id,omitempty"`
	Platform string `json:"platform,omitempty"`
	Handle   string `json:"handle,omitempty"`
}

// UserRecord is an account as stored. PasswordHash is a bcrypt hash; nothing else about the
// password is kept.
type UserRecord struct {
	ID           string        `json:"id"`
	Slug         string        `json:"slug"`
	Name         string        `json:"name"`
	PasswordHash []byte        `json:"passwordHash"`
	Roles        []string      `json:"roles"`
	Contacts     []UserContact `json:"contacts,omitempty"`
	CreatedAt    time.Time     `json:"createdAt"`
	UpdatedAt    time.Time     `json:"updatedAt"`
}

// CreateUser stores u and indexes its slug in one transaction. A taken slug or id is
// ErrConflict; the index is the single place slug uniqueness is decided, so two concurrent
// registrations of one slug cannot both win.
func (s *Store) CreateUser(u UserRecord) error {
	if u.ID == "" || u.Slug == "" {
		return fmt.Errorf("create user: id and slug are required")
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		users, slugs := tx.Bucket(bucketUsers), tx.Bucket(bucketSlugs)
		if slugs.Get([]byte(u.Slug)) != nil {
			return fmt.Errorf("slug %q: %w", u.Slug, ErrConflict)
		}
		if users.Get([]byte(u.ID)) != nil {
			return fmt.Errorf("user id %q: %w", u.ID, ErrConflict)
		}
		if err := putJSON(users, u.ID, u); err != nil {
			return err
		}
		return slugs.Put([]byte(u.Slug), []byte(u.ID))
	})
}

// GetUser returns the user with id, or ErrNotFound.
func (s *Store) GetUser(id string) (UserRecord, error) {
	var u UserRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketUsers), id, &u)
	})
	return u, err
}

// GetUserBySlug returns the user owning slug, or ErrNotFound.
func (s *Store) GetUserBySlug(slug string) (UserRecord, error) {
	var u UserRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketSlugs).Get([]byte(slug))
		if id == nil {
			return ErrNotFound
		}
		return getJSON(tx.Bucket(bucketUsers), string(id), &u)
	})
	return u, err
}

// ListUsers returns up to limit users (all when limit <= 0) in slug order, and the total
// number of users.
func (s *Store) ListUsers(limit int) ([]UserRecord, int, error) {
	var out []UserRecord
	total := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		slugs, users := tx.Bucket(bucketSlugs), tx.Bucket(bucketUsers)
		// Walking the slug index gives a stable, human-friendly order for free.
		return slugs.ForEach(func(_, id []byte) error {
			total++
			if limit > 0 && len(out) >= limit {
				return nil
			}
			var u UserRecord
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
	err := s.db.Update(func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		var u UserRecord
		if err := getJSON(users, userID, &u); err != nil {
			return err
		}
		u.PasswordHash = hash
		u.UpdatedAt = now
		if err := putJSON(users, u.ID, u); err != nil {
			return err
		}
		var err error
		revoked, err = deleteTokens(tx.Bucket(bucketTokens), func(t TokenRecord) bool {
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
	err := s.db.Update(func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		var u UserRecord
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
		revoked, err = deleteTokens(tx.Bucket(bucketTokens), func(t TokenRecord) bool { return t.UserID == userID })
		return err
	})
	if err != nil {
		return nil, err
	}
	return revoked, nil
}
