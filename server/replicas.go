package server

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ooctl/oo/internal/randid"
	"github.com/ooctl/oo/pkg/api"
)

// replicas answers `oo server ls`: this process, and with a shared store every replica that
// holds a live registration there.
type replicas struct {
	store string // "bolt" or "etcd"
	// members lists the registered replicas and the prober's id; nil with bolt, where this
	// process is the only replica and probes unless probing is off.
	members func(ctx context.Context) ([]api.Replica, string, error)
	probes  bool // bolt: whether this process probes

	mu   sync.Mutex
	self api.Replica
}

func newReplicas(cfg *Config) *replicas {
	addr := cfg.Advertise
	if addr == "" {
		addr = cfg.Addr
	}
	return &replicas{
		store:  cfg.Store,
		probes: cfg.ProbeInterval > 0,
		self: api.Replica{
			ID:        randid.New("rep_", 12),
			Address:   addr,
			Version:   cfg.Version,
			StartedAt: time.Now().UTC().Truncate(time.Second),
		},
	}
}

// listening records the address the listener got, unless an advertised one was given: with
// --addr 127.0.0.1:0 the port is known only now.
func (r *replicas) listening(addr string, advertised bool) {
	if advertised {
		return
	}
	r.mu.Lock()
	r.self.Address = addr
	r.mu.Unlock()
}

// Self is this replica as it registers itself.
func (r *replicas) Self() api.Replica {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.self
}

// ListReplicas implements httpapi.Replicas.
func (r *replicas) ListReplicas(ctx context.Context) (api.ListReplicasResponse, error) {
	self := r.Self()
	if r.members == nil {
		self.Prober, self.Self = r.probes, true
		return api.ListReplicasResponse{Store: r.store, Replicas: []api.Replica{self}}, nil
	}
	list, prober, err := r.members(ctx)
	if err != nil {
		return api.ListReplicasResponse{}, err
	}
	for i := range list {
		list[i].Prober = list[i].ID == prober
		list[i].Self = list[i].ID == self.ID
	}
	slices.SortFunc(list, func(a, b api.Replica) int { return strings.Compare(a.ID, b.ID) })
	return api.ListReplicasResponse{Store: r.store, Replicas: list}, nil
}
