package etcd

import (
	"context"
	"encoding/json"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ooctl/oo/server/store"
)

// PutBeats writes the beats of instances still stored (a beat never resurrects a deleted
// instance), in transactions of chunkSize, and returns how many it took. Each replica calls it
// with what it received in the last half second, so beats cost one transaction per replica
// per batch, not one write per heartbeat.
func (s *Store) PutBeats(ctx context.Context, beats []store.Beat) (int, error) {
	ops := make([]clientv3.Op, 0, len(beats))
	for _, b := range beats {
		put, err := opPutJSON(s.beatKey(b.ID), b)
		if err != nil {
			return 0, err
		}
		ops = append(ops, clientv3.OpTxn([]clientv3.Cmp{present(s.instanceKey(b.ID))}, []clientv3.Op{put}, nil))
	}
	return s.eachChunk(ctx, ops, func(*clientv3.TxnResponse) {})
}

func decodeBeat(id string, kv *mvccpb.KeyValue) (store.Beat, error) {
	var b store.Beat
	err := json.Unmarshal(kv.Value, &b)
	b.ID, b.Rev = id, kv.ModRevision
	return b, err
}
