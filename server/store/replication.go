package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

// What a store shared by several replicas (etcd) adds for the registry: every change carries
// the revision it was made at, so a replica can apply a watched change only when it is newer
// than what it holds, and write conditionally on the revision it read.

// ErrCompacted means a watch asked for revisions the store no longer keeps: reload everything.
var ErrCompacted = errors.New("watched revision compacted")

// VersionedInstance is a stored instance and the revision of its last change.
type VersionedInstance struct {
	Rec InstanceRecord
	Rev int64
}

// Beat is the last heartbeat of an instance as the replicas share it, kept apart from the
// instance record so that beats and status writes never conflict.
type Beat struct {
	ID string `json:"-"`
	// At is when the heartbeat arrived; TTL the TTL it set, as the client wrote it (empty:
	// unchanged).
	At  time.Time `json:"at"`
	TTL string    `json:"ttl,omitempty"`
	Rev int64     `json:"-"`
}

// Snapshot is every instance and beat, read at one revision.
type Snapshot struct {
	Instances []VersionedInstance
	Beats     []Beat
	Rev       int64
}

// Change is one watched change: an instance written or deleted, or a beat.
type Change struct {
	Rev int64
	// Instance is set for an instance write (Deleted false) or delete (Deleted true, only
	// Rec.ID set).
	Instance *InstanceRecord
	Deleted  bool
	Beat     *Beat
}

// ConflictError is a conditional write refused because what it was conditioned on changed.
// Rev is the revision a watcher must have seen to know what changed it; Owner, when set, is
// the instance that holds the URL.
type ConflictError struct {
	Rev   int64
	Owner string
}

func (e *ConflictError) Error() string {
	if e.Owner != "" {
		return fmt.Sprintf("the url is registered as instance %s (revision %d)", e.Owner, e.Rev)
	}
	return fmt.Sprintf("the instance changed (revision %d)", e.Rev)
}

// Is makes a ConflictError match ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// VerdictOf is the probe verdict a record carries: Verdict when written by a version that
// keeps it, else its status.
func VerdictOf(rec InstanceRecord) api.InstanceStatus {
	if rec.Verdict != "" {
		return rec.Verdict
	}
	return rec.Status
}
