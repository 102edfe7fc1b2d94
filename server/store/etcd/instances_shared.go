package etcd

import (
	"context"
	"encoding/json"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ooctl/oo/server/store"
)

// The registry of a replica sharing this store (registry.Shared) keeps every instance in
// memory, fed by Watch, and writes each change conditionally on the revision it read:
//
//	instances/<id>     store.InstanceRecord
//	urls/<canonical>   the id of the instance that owns the URL (the index that decides it)
//	beats/<id>         store.Beat, the last heartbeat written for the instance

func (s *Store) instanceKey(id string) string { return s.Key("instances", id) }
func (s *Store) urlKey(url string) string     { return s.Key("urls", url) }
func (s *Store) beatKey(id string) string     { return s.Key("beats", id) }

func modRev(k string, rev int64) clientv3.Cmp {
	return clientv3.Compare(clientv3.ModRevision(k), "=", rev)
}

func owns(k, id string) clientv3.Cmp { return clientv3.Compare(clientv3.Value(k), "=", id) }

// PutInstance stores rec if instances/<id> is at revision ifRev (0: absent) and urls/<url> is
// absent or names rec.ID, in one round trip: the URL's two possible states are two nested
// transactions, the second tried only when the first's conditions fail.
func (s *Store) PutInstance(ctx context.Context, rec store.InstanceRecord, ifRev int64, oldURL string) (int64, error) {
	ik, uk := s.instanceKey(rec.ID), s.urlKey(rec.URL)
	put, err := opPutJSON(ik, rec)
	if err != nil {
		return 0, err
	}
	then := []clientv3.Op{put, clientv3.OpPut(uk, rec.ID)}
	if oldURL != "" && oldURL != rec.URL {
		ok := s.urlKey(oldURL)
		then = append(then, clientv3.OpTxn([]clientv3.Cmp{owns(ok, rec.ID)}, []clientv3.Op{clientv3.OpDelete(ok)}, nil))
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	resp, err := s.c.Txn(ctx).
		If(modRev(ik, ifRev), owns(uk, rec.ID)).
		Then(then...).
		Else(clientv3.OpTxn(
			[]clientv3.Cmp{modRev(ik, ifRev), absent(uk)},
			then,
			[]clientv3.Op{clientv3.OpGet(ik), clientv3.OpGet(uk)},
		)).Commit()
	if err != nil {
		return 0, classify(err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	inner := resp.Responses[0].GetResponseTxn()
	if inner.Succeeded {
		return resp.Header.Revision, nil
	}
	ce := &store.ConflictError{Rev: resp.Header.Revision}
	if kvs := inner.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		ce.Rev = kvs[0].ModRevision
	}
	if kvs := inner.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 && string(kvs[0].Value) != rec.ID {
		ce.Owner = string(kvs[0].Value)
		ce.Rev = max(ce.Rev, kvs[0].ModRevision)
		if r := inner.Responses[0].GetResponseRange().Kvs; len(r) == 0 || r[0].ModRevision == ifRev {
			ce.Rev = kvs[0].ModRevision // only the URL is in the way
		}
	}
	return 0, ce
}

// DeleteInstance removes instances/<id>, its beat and, when it names id, urls/<url>, if the
// instance is at revision ifRev.
func (s *Store) DeleteInstance(ctx context.Context, id, url string, ifRev int64) (int64, error) {
	ik, uk := s.instanceKey(id), s.urlKey(url)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	resp, err := s.c.Txn(ctx).
		If(modRev(ik, ifRev)).
		Then(clientv3.OpDelete(ik), clientv3.OpDelete(s.beatKey(id)),
			clientv3.OpTxn([]clientv3.Cmp{owns(uk, id)}, []clientv3.Op{clientv3.OpDelete(uk)}, nil)).
		Else(clientv3.OpGet(ik)).Commit()
	if err != nil {
		return 0, classify(err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	ce := &store.ConflictError{Rev: resp.Header.Revision}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		ce.Rev = kvs[0].ModRevision
	}
	return 0, ce
}

// PutStatuses writes each record whose instance is still at the revision given, each on its
// own condition, in transactions of chunkSize; a record that changed meanwhile gets 0.
func (s *Store) PutStatuses(ctx context.Context, vs []store.VersionedInstance) ([]int64, error) {
	ops := make([]clientv3.Op, 0, len(vs))
	for _, v := range vs {
		k := s.instanceKey(v.Rec.ID)
		put, err := opPutJSON(k, v.Rec)
		if err != nil {
			return nil, err
		}
		ops = append(ops, clientv3.OpTxn([]clientv3.Cmp{modRev(k, v.Rev)}, []clientv3.Op{put}, nil))
	}
	revs := make([]int64, 0, len(vs))
	_, err := s.eachChunk(ctx, ops, func(resp *clientv3.TxnResponse) {
		for _, r := range resp.Responses {
			rev := int64(0)
			if r.GetResponseTxn().Succeeded {
				rev = resp.Header.Revision
			}
			revs = append(revs, rev)
		}
	})
	return revs, err
}

// eachChunk commits ops in transactions of chunkSize, in order, handing each response to fn;
// it returns how many transactions it committed.
func (s *Store) eachChunk(ctx context.Context, ops []clientv3.Op, fn func(*clientv3.TxnResponse)) (int, error) {
	n := 0
	for len(ops) > 0 {
		k := min(len(ops), s.chunkSize())
		cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		resp, err := s.c.Txn(cctx).Then(ops[:k]...).Commit()
		cancel()
		if err != nil {
			return n, classify(err)
		}
		n++
		fn(resp)
		ops = ops[k:]
	}
	return n, nil
}

// Snapshot reads every instance and beat at one revision.
func (s *Store) Snapshot(ctx context.Context) (store.Snapshot, error) {
	var snap store.Snapshot
	rev, err := s.scanKVs(ctx, "instances", 0, func(id string, kv *mvccpb.KeyValue) error {
		var rec store.InstanceRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return err
		}
		snap.Instances = append(snap.Instances, store.VersionedInstance{Rec: rec, Rev: kv.ModRevision})
		return nil
	})
	if err != nil {
		return snap, err
	}
	snap.Rev = rev
	_, err = s.scanKVs(ctx, "beats", rev, func(id string, kv *mvccpb.KeyValue) error {
		b, err := decodeBeat(id, kv)
		snap.Beats = append(snap.Beats, b)
		return err
	})
	return snap, err
}

// scanKVs calls fn with each key under kind (without the prefix) and its value and revisions,
// in key order, all read at revision rev (0: the current one), in pages with a request timeout
// each. It returns the revision read.
func (s *Store) scanKVs(ctx context.Context, kind string, rev int64, fn func(id string, kv *mvccpb.KeyValue) error) (int64, error) {
	prefix := s.Key(kind, "")
	end := clientv3.GetPrefixRangeEnd(prefix)
	from := prefix
	for {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(pageSize)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.c.Get(cctx, from, opts...)
		cancel()
		if err != nil {
			return 0, classify(err)
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			if err := fn(strings.TrimPrefix(string(kv.Key), prefix), kv); err != nil {
				return 0, err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
