package store

import (
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ooctl/oo/pkg/api"
)

// InstanceRecord is a registered instance as persisted. The embedded Instance is what clients
// see; the extra fields let health state survive a restart (a TTL keeps counting from the last
// beat, and an instance that was down keeps its place on the way to expiry).
type InstanceRecord struct {
	api.Instance
	// LastBeat is the last explicit heartbeat (or registration); zero when none.
	LastBeat time.Time `json:"lastBeat,omitzero"`
	// DownSince is when the instance last stopped being routable; zero while it is.
	DownSince time.Time `json:"downSince,omitzero"`
	// HealthFormat is HealthFormatSplit when LastHeartbeat holds only heartbeats and LastSeen
	// probes; records written before (zero) kept the last probe or heartbeat in LastHeartbeat.
	HealthFormat int `json:"healthFormat,omitempty"`
}

// HealthFormatSplit marks records whose lastHeartbeat is only what the service sent.
const HealthFormatSplit = 2

// PutInstance creates or replaces the instance keyed by rec.ID and commits.
func (s *Store) PutInstance(rec InstanceRecord) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketInstances), rec.ID, rec)
	})
}

// DeleteInstance removes the instance id and commits, or returns ErrNotFound.
func (s *Store) DeleteInstance(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketInstances)
		if b.Get([]byte(id)) == nil {
			return ErrNotFound
		}
		return b.Delete([]byte(id))
	})
}

// GetInstance returns the instance id, or ErrNotFound.
func (s *Store) GetInstance(id string) (InstanceRecord, error) {
	var rec InstanceRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketInstances), id, &rec)
	})
	return rec, err
}

// Instances returns every stored instance.
func (s *Store) Instances() ([]InstanceRecord, error) {
	var out []InstanceRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return forEachJSON(tx.Bucket(bucketInstances), func(rec InstanceRecord) error {
			out = append(out, rec)
			return nil
		})
	})
	return out, err
}

// UpdateInstances writes recs in one transaction (one fsync for the whole batch) and returns how
// many it wrote. A record whose id is no longer stored is skipped rather than written, so a
// batch of lazily flushed health state cannot resurrect an instance deleted meanwhile.
func (s *Store) UpdateInstances(recs []InstanceRecord) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
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

// InstanceWrite is one change to the stored instances, for WriteInstances.
type InstanceWrite struct {
	Rec InstanceRecord
	// Delete removes Rec.ID (absent is fine) instead of writing Rec.
	Delete bool
	// IfStored writes Rec only when Rec.ID is stored, so lazily flushed health state cannot
	// resurrect an instance deleted meanwhile.
	IfStored bool
}

// WriteInstances applies ws in order in one transaction: one fsync however many there are. The
// registry's group commit hands it every write queued while the previous commit ran.
func (s *Store) WriteInstances(ws []InstanceWrite) error {
	if len(ws) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
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
