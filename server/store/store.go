// Package store says what the server keeps and what it asks of the database that keeps it: the
// records, the errors, and the Store interface. It imports no database. Two implementations
// satisfy it: store/bolt, one bbolt file for a single replica (the default), and store/etcd,
// shared by several replicas; storetest holds the one conformance suite both pass.
//
// Every write method commits before it returns, so a handler that got nil back may acknowledge
// the write.
package store

import (
	"errors"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	// ErrLocked means another process (usually another `oo server start`) holds the file.
	ErrLocked = errors.New("database is locked by another process")
	// ErrUnavailable means the database did not answer in time (etcd down or partitioned). The
	// outcome of a write that failed with it is unknown; the API answers 503.
	ErrUnavailable = errors.New("store unavailable")
)

// Store is everything the user service and the registry keep. Implementations are safe for
// concurrent use.
type Store interface {
	Meta
	Users
	Tokens
	Instances
	// Describe names the store for logs and status: a file path, or etcd endpoints and prefix.
	Describe() string
	Close() error
}

// Meta holds single values such as the token signing key.
type Meta interface {
	// GetMeta returns the value stored under key, or ErrNotFound.
	GetMeta(key string) ([]byte, error)
	// PutMetaIfAbsent stores value under key unless a value is already there, and returns the
	// value stored afterwards: of any number of concurrent callers (on any replica) exactly one
	// value wins and all of them get it back.
	PutMetaIfAbsent(key string, value []byte) ([]byte, error)
}

// Users are accounts with a unique slug.
type Users interface {
	// CreateUser stores u; a taken slug or id is ErrConflict, decided atomically.
	CreateUser(u UserRecord) error
	GetUser(id string) (UserRecord, error)
	GetUserBySlug(slug string) (UserRecord, error)
	// ListUsers returns up to limit users (all when limit <= 0) in slug order, and how many
	// there are in all.
	ListUsers(limit int) ([]UserRecord, int, error)
	// SetPassword replaces the user's hash and deletes every token of the user but keepTokenID,
	// in one write; it returns the ids of the deleted tokens.
	SetPassword(userID string, hash []byte, now time.Time, keepTokenID string) ([]string, error)
	// DeleteUser removes the user, its slug and its tokens in one write; it returns the ids of
	// the deleted tokens.
	DeleteUser(userID string) ([]string, error)
}

// Tokens are the issued tokens not yet revoked; revoking deletes the record.
type Tokens interface {
	PutToken(t TokenRecord) error
	// DeleteToken removes id, or returns ErrNotFound.
	DeleteToken(id string) error
	// ReplaceToken deletes oldID and stores next in one write; ErrNotFound when oldID is gone.
	ReplaceToken(oldID string, next TokenRecord) error
	ListTokens() ([]TokenRecord, error)
	DeleteUserTokensExcept(userID, keepID string) ([]string, error)
	DeleteExpiredTokens(now time.Time) ([]string, error)
}

// Instances are the registered service instances.
type Instances interface {
	// GetInstance returns the instance id, or ErrNotFound.
	GetInstance(id string) (InstanceRecord, error)
	// Instances returns every stored instance.
	Instances() ([]InstanceRecord, error)
	// WriteInstances applies ws in order, all or nothing.
	WriteInstances(ws []InstanceWrite) error
}

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

// TokenRecord is an issued, not yet revoked token. The signed JWT itself is never stored:
// whoever reads the database file learns which tokens are live, not how to present them.
// Revoking a token deletes its record.
type TokenRecord struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

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
	// Verdict is what probes (or, without probing, heartbeats) last concluded, before a lapsed
	// heartbeat TTL is applied: Status is Unreachable while the TTL has lapsed, and goes back
	// to Verdict when a beat arrives. Replicas sharing the record need both.
	Verdict api.InstanceStatus `json:"verdict,omitempty"`
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

// HealthFormatSplit marks records whose lastHeartbeat is only what the service sent.
const HealthFormatSplit = 2
