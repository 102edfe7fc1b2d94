// Package bolt is the embedded store: one bbolt file on this machine, for a single replica. It
// is the only package that imports bbolt. Values are JSON; every write method commits (fsync) before it returns, so a
// handler that got nil back may acknowledge the write.
package bolt

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ooctl/oo/server/store"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is bumped whenever the layout of buckets or values changes incompatibly.
const SchemaVersion = 1

// The schema, declared once. Every bucket is created on open.
var (
	bucketMeta      = []byte("meta")      // schemaVersion, signing key, ...
	bucketUsers     = []byte("users")     // user id → userRecord
	bucketSlugs     = []byte("slugs")     // slug → user id (index, kept in the same tx)
	bucketTokens    = []byte("tokens")    // token id → store.TokenRecord
	bucketInstances = []byte("instances") // instance id → store.InstanceRecord

	allBuckets = [][]byte{bucketMeta, bucketUsers, bucketSlugs, bucketTokens, bucketInstances}

	keySchemaVersion = []byte("schemaVersion")
)

// Options tune Open.
type Options struct {
	// LockTimeout bounds the wait for the file lock; 0 means one second.
	LockTimeout time.Duration
}

// Store is an open database.
type Store struct {
	db   *bbolt.DB
	path string
}

// Open opens (creating if needed) the database at path with mode 0600 and checks its schema.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.LockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%s: %w (is another oo server running on this data dir?)", path, store.ErrLocked)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init() error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		raw := meta.Get(keySchemaVersion)
		if raw == nil {
			return meta.Put(keySchemaVersion, []byte(strconv.Itoa(SchemaVersion)))
		}
		v, err := strconv.Atoi(string(raw))
		if err != nil || v > SchemaVersion {
			return fmt.Errorf("%s has schema version %q; this oo understands up to %d (upgrade oo)", s.path, raw, SchemaVersion)
		}
		return nil
	})
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close releases the file and its lock.
func (s *Store) Close() error { return s.db.Close() }

// GetMeta returns the raw value stored under key in the meta bucket, or store.ErrNotFound.
func (s *Store) GetMeta(key string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get([]byte(key))
		if v == nil {
			return store.ErrNotFound
		}
		out = append([]byte(nil), v...)
		return nil
	})
	return out, err
}

// PutMetaIfAbsent stores value under key unless a value is already there, and returns the value
// that is stored afterwards. It lets first-boot setup (such as the signing key) stay correct
// even if two goroutines race.
func (s *Store) PutMetaIfAbsent(key string, value []byte) ([]byte, error) {
	var out []byte
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if v := b.Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
			return nil
		}
		out = value
		return b.Put([]byte(key), value)
	})
	return out, err
}

// getJSON decodes bucket[key] into v, or returns store.ErrNotFound.
func getJSON(b *bbolt.Bucket, key string, v any) error {
	raw := b.Get([]byte(key))
	if raw == nil {
		return store.ErrNotFound
	}
	return json.Unmarshal(raw, v)
}

func putJSON(b *bbolt.Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), raw)
}

// forEachJSON decodes every value of b into a fresh T and calls fn with it.
func forEachJSON[T any](b *bbolt.Bucket, fn func(T) error) error {
	return b.ForEach(func(_, raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		return fn(v)
	})
}

// Describe names the file, for logs and status.
func (s *Store) Describe() string { return "bolt " + s.path }
