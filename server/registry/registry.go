// Package registry keeps service instances: who owns which URL, their health and heartbeats.
package registry

import (
	"context"
	"log/slog"
	"time"

	"github.com/ooctl/oo/server/store"
)

type Options struct {
	ProbeInterval  time.Duration // negative disables active probing
	InstanceExpiry time.Duration
	Logger         *slog.Logger
}

// Registry STUB: to be implemented.
type Registry struct{}

func New(st *store.Store, opts Options) (*Registry, error) { return &Registry{}, nil }

// Run does background work (probes, expiry, batched heartbeat writes) until ctx is done.
func (r *Registry) Run(ctx context.Context) { <-ctx.Done() }

// Close flushes pending state to the store.
func (r *Registry) Close() error { return nil }
