package server

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ooctl/oo/internal/randid"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/store/etcd"
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

// sharedMembers lists the replicas registered in etcd.
func sharedMembers(st *etcd.Store) func(ctx context.Context) ([]api.Replica, string, error) {
	return func(ctx context.Context) ([]api.Replica, string, error) {
		ms, prober, err := st.Members(ctx)
		if err != nil {
			return nil, "", err
		}
		out := make([]api.Replica, len(ms))
		for i, m := range ms {
			out[i] = api.Replica{ID: m.ID, Address: m.Address, Version: m.Version, StartedAt: m.StartedAt}
		}
		return out, prober, nil
	}
}

// memberStopWait bounds how long shutdown waits for the replica to resign and revoke its lease;
// when etcd does not answer, the lease expires by itself.
const memberStopWait = 5 * time.Second

// runMember registers this replica with etcd and campaigns for the prober role until ctx is
// done (nothing with bolt, where this process is the only replica and always probes). It
// returns a function that waits, bounded, for the resignation.
func (s *Server) runMember(ctx context.Context) (wait func()) {
	if s.shared == nil {
		return func() {}
	}
	self := s.replicas.Self()
	m := etcd.Member{ID: self.ID, Address: self.Address, Version: self.Version, StartedAt: self.StartedAt}
	onProber := s.registry.SetProbing
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.shared.RunMember(ctx, m, s.cfg.ReplicaTTL, onProber, s.cfg.Logger)
	}()
	return func() {
		select {
		case <-done:
		case <-time.After(memberStopWait):
			s.cfg.Logger.Warn("etcd did not confirm this replica's resignation; its lease will expire by itself", "replica", m.ID)
		}
	}
}
