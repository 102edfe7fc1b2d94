package bolt

import (
	"github.com/ooctl/oo/server/store"

	bbolt "go.etcd.io/bbolt"
)

// PutInstance creates or replaces the instance keyed by rec.ID and commits.
func (s *Store) PutInstance(rec store.InstanceRecord) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return putJSON(tx.Bucket(bucketInstances), rec.ID, rec)
	})
}

// DeleteInstance removes the instance id and commits, or returns store.ErrNotFound.
func (s *Store) DeleteInstance(id string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketInstances)
		if b.Get([]byte(id)) == nil {
			return store.ErrNotFound
		}
		return b.Delete([]byte(id))
	})
}

// GetInstance returns the instance id, or store.ErrNotFound.
func (s *Store) GetInstance(id string) (store.InstanceRecord, error) {
	var rec store.InstanceRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		return getJSON(tx.Bucket(bucketInstances), id, &rec)
	})
	return rec, err
}

// Instances returns every stored instance.
func (s *Store) Instances() ([]store.InstanceRecord, error) {
	var out []store.InstanceRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		return forEachJSON(tx.Bucket(bucketInstances), func(rec store.InstanceRecord) error {
			out = append(out, rec)
			return nil
		})
	})
	return out, err
}

// UpdateInstances writes recs in one transaction (one fsync for the whole batch) and returns how
// many it wrote. A record whose id is no longer stored is skipped rather than written, so a
// batch of lazily flushed health state cannot resurrect an instance deleted meanwhile.
func (s *Store) UpdateInstances(recs []store.InstanceRecord) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketInstances)
		n = 0
		for _, rec := range recs {
			if b.Get([]byte(rec.ID)) == nil {
				continue
			}
			if err := putJSON(b, rec.ID, rec); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// WriteInstances applies ws in order in one transaction: one fsync however many there are. The
// registry's group commit hands it every write queued while the previous commit ran.
func (s *Store) WriteInstances(ws []store.InstanceWrite) error {
	if len(ws) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketInstances)
		for _, w := range ws {
			key := []byte(w.Rec.ID)
			switch {
			case w.Delete:
				if err := b.Delete(key); err != nil {
					return err
				}
			case w.IfStored && b.Get(key) == nil:
			default:
				if err := putJSON(b, w.Rec.ID, w.Rec); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
