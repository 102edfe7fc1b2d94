package etcd

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Replica membership: each running server keeps replicas/<id> under a lease of its own, so a
// replica that stops, crashes or loses etcd disappears from the list within the lease TTL,
// without anyone cleaning up after it.

// DefaultReplicaTTL is the lease of a replica's registration and campaign: how long a replica
// that died without a word is still listed, and how long the prober role waits for it.
const DefaultReplicaTTL = 5 * time.Second

// Member is a replica as it registers itself: the value of replicas/<id>.
type Member struct {
	ID string `json:"id"`
	// Address is where other replicas and users reach it (--advertise).
	Address   string    `json:"address"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"startedAt"`
}

// Members returns the registered replicas in id order and the id of the one that holds the
// prober election ("" when none does), read together at one revision.
func (s *Store) Members(ctx context.Context) ([]Member, string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	resp, err := s.c.Txn(ctx).Then(
		clientv3.OpGet(s.Key("replicas", ""), clientv3.WithPrefix()),
		clientv3.OpGet(s.electionPrefix()+"/", clientv3.WithFirstCreate()...),
	).Commit()
	if err != nil {
		return nil, "", classify(err)
	}
	var out []Member
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		var m Member
		if json.Unmarshal(kv.Value, &m) == nil {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	prober := ""
	if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
		prober = string(kvs[0].Value)
	}
	return out, prober, nil
}

// register writes m under lease.
func (s *Store) register(ctx context.Context, m Member, lease clientv3.LeaseID) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	_, err = s.c.Put(ctx, s.Key("replicas", m.ID), string(raw), clientv3.WithLease(lease))
	return classify(err)
}
