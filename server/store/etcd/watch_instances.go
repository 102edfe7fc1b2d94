package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ooctl/oo/server/store"
)

// Watch calls fn with every change to instances and beats from revision from on, in revision
// order, and with the revision the changes bring the watcher to. A progress notification (see
// RequestProgress) calls fn with no changes and the revision the watcher has reached. Watch
// returns when ctx ends (nil), when from is compacted (store.ErrCompacted), or when the watch
// fails otherwise. While etcd is unreachable the client keeps retrying and Watch waits: it
// resumes where it stopped when etcd answers again.
func (s *Store) Watch(ctx context.Context, from int64, fn func(cs []store.Change, rev int64)) error {
	// One watch over [beats/, instances0) sees both kinds in one ordered stream; the few other
	// keys in that range (the prober election) are skipped.
	start := s.Key("beats", "")
	end := clientv3.GetPrefixRangeEnd(s.Key("instances", ""))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := s.c.Watch(ctx, start, clientv3.WithRange(end), clientv3.WithRev(from), clientv3.WithProgressNotify())
	for wresp := range wch {
		if wresp.CompactRevision != 0 {
			return fmt.Errorf("%w: from %d, compacted at %d", store.ErrCompacted, from, wresp.CompactRevision)
		}
		if err := wresp.Err(); err != nil {
			return classify(err)
		}
		if wresp.IsProgressNotify() {
			fn(nil, wresp.Header.Revision)
			continue
		}
		cs := make([]store.Change, 0, len(wresp.Events))
		for _, ev := range wresp.Events {
			c, ok, err := s.change(ev)
			if err != nil {
				return err
			}
			if ok {
				cs = append(cs, c)
			}
		}
		if n := len(wresp.Events); n > 0 {
			last := wresp.Events[n-1].Kv.ModRevision
			from = last + 1
			fn(cs, last)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("etcd watch closed")
}

// RequestProgress asks etcd to tell the watches how far they are, so that a watcher waiting
// for a revision no change of its own reaches (a delete it lost to) learns it has it.
func (s *Store) RequestProgress(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	return classify(s.c.RequestProgress(ctx))
}

func (s *Store) change(ev *clientv3.Event) (store.Change, bool, error) {
	key := string(ev.Kv.Key)
	c := store.Change{Rev: ev.Kv.ModRevision}
	if id, ok := strings.CutPrefix(key, s.Key("instances", "")); ok {
		if ev.Type == mvccpb.DELETE {
			c.Deleted, c.Instance = true, &store.InstanceRecord{}
			c.Instance.ID = id
			return c, true, nil
		}
		var rec store.InstanceRecord
		if err := json.Unmarshal(ev.Kv.Value, &rec); err != nil {
			return c, false, fmt.Errorf("%s: %w", key, err)
		}
		c.Instance = &rec
		return c, true, nil
	}
	if id, ok := strings.CutPrefix(key, s.Key("beats", "")); ok && ev.Type == mvccpb.PUT {
		b, err := decodeBeat(id, ev.Kv)
		if err != nil {
			return c, false, fmt.Errorf("%s: %w", key, err)
		}
		c.Beat = &b
		return c, true, nil
	}
	return c, false, nil
}
