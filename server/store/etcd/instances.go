package etcd

import (
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ooctl/oo/server/store"
)

// GetInstance returns the instance id, or store.ErrNotFound.
func (s *Store) GetInstance(id string) (store.InstanceRecord, error) {
	var rec store.InstanceRecord
	err := s.getJSON(s.Key("instances", id), &rec)
	return rec, err
}

// Instances returns every stored instance, in id order, read at one revision.
func (s *Store) Instances() ([]store.InstanceRecord, error) {
	return list[store.InstanceRecord](s, "instances")
}

// WriteInstances applies ws as if in order. etcd refuses a transaction that touches one key
// twice, so the writes are first folded into one final operation per instance; those go in
// transactions of chunkSize, each atomic. A batch that fits in one (the registry's group
// commits, under etcd's default --max-txn-ops of 128) is all or nothing; a larger one can be
// cut short between transactions by an error, with earlier ones committed.
func (s *Store) WriteInstances(ws []store.InstanceWrite) error {
	if len(ws) == 0 {
		return nil
	}
	ops, err := s.instanceOps(fold(ws))
	if err != nil {
		return err
	}
	_, err = s.commitChunks(ops)
	return err
}

// fold reduces ws to one write per instance with the same effect as applying ws in order, in
// the order of each instance's first write.
func fold(ws []store.InstanceWrite) []store.InstanceWrite {
	at := make(map[string]int, len(ws))
	var out []store.InstanceWrite
	for _, w := range ws {
		i, seen := at[w.Rec.ID]
		if !seen {
			at[w.Rec.ID] = len(out)
			out = append(out, w)
			continue
		}
		prev := out[i]
		switch {
		case w.Delete || !w.IfStored:
			out[i] = w
		case prev.Delete:
			// IfStored after a delete in the same batch: nothing is stored, nothing to write.
		default:
			// IfStored after a write: stored if that write was unconditional, else only if
			// the instance was stored before the batch.
			w.IfStored = prev.IfStored
			out[i] = w
		}
	}
	return out
}

func (s *Store) instanceOps(ws []store.InstanceWrite) ([]clientv3.Op, error) {
	ops := make([]clientv3.Op, 0, len(ws))
	for _, w := range ws {
		k := s.Key("instances", w.Rec.ID)
		if w.Delete {
			ops = append(ops, clientv3.OpDelete(k))
			continue
		}
		put, err := opPutJSON(k, w.Rec)
		if err != nil {
			return nil, err
		}
		if w.IfStored {
			put = clientv3.OpTxn([]clientv3.Cmp{present(k)}, []clientv3.Op{put}, nil)
		}
		ops = append(ops, put)
	}
	return ops, nil
}
