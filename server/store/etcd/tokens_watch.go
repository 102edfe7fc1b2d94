package etcd

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ooctl/oo/server/store"
)

// What the user service of each replica follows (user.Shared): the live tokens under tokens/,
// listed at a revision and then watched from the next one, so that a login, logout, refresh
// or password change on any replica reaches the memory of every other one.

// ListTokensAt returns every live token and the revision of the listing (one revision for all
// its pages).
func (s *Store) ListTokensAt() ([]store.TokenRecord, int64, error) {
	var out []store.TokenRecord
	rev, err := s.scan("tokens", 0, func(_ string, raw []byte) error {
		var t store.TokenRecord
		if err := json.Unmarshal(raw, &t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	return out, rev, err
}

// ReadToken returns the live token id and the revision of the read, which is linearizable:
// it sees every write acknowledged before it began, on any replica.
func (s *Store) ReadToken(id string) (store.TokenRecord, int64, error) {
	raw, rev, err := s.get(s.Key("tokens", id))
	if err != nil {
		return store.TokenRecord{}, rev, err
	}
	var t store.TokenRecord
	if err := json.Unmarshal(raw, &t); err != nil {
		return store.TokenRecord{}, rev, err
	}
	return t, rev, nil
}

// Bounds of the pause between attempts to re-establish the token watch.
const (
	watchRetryMin = 50 * time.Millisecond
	watchRetryMax = 2 * time.Second
)

// WatchTokens calls apply with each change under tokens/ after revision afterRev, in revision
// order, until ctx is done. When the watch breaks (its revision compacted away, etcd without a
// leader, the stream cancelled) it does not try to resume where it was: changes may be gone
// from etcd's history, so it lists the tokens again, hands them over as one Reset event and
// watches from there, retrying with a growing pause while etcd does not answer.
func (s *Store) WatchTokens(ctx context.Context, afterRev int64, apply func(store.TokenEvent)) {
	prefix := s.Key("tokens", "")
	next := afterRev + 1
	pause := watchRetryMin
	for ctx.Err() == nil {
		if next == 0 {
			live, rev, err := s.ListTokensAt()
			if err != nil {
				sleepCtx(ctx, pause)
				pause = min(2*pause, watchRetryMax)
				continue
			}
			apply(store.TokenEvent{Rev: rev, Reset: true, Live: live})
			next = rev + 1
		}
		if s.watchTokens(ctx, prefix, next, apply) {
			pause = watchRetryMin // it worked for a while: the next failure is news
		}
		next = 0
		sleepCtx(ctx, pause)
		pause = min(2*pause, watchRetryMax)
	}
}

// watchTokens runs one watch from revision from until it breaks; it reports whether any
// response arrived.
func (s *Store) watchTokens(ctx context.Context, prefix string, from int64, apply func(store.TokenEvent)) bool {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	got := false
	for resp := range s.c.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from)) {
		if resp.Err() != nil || resp.Canceled {
			return got
		}
		got = true
		for _, ev := range resp.Events {
			id := strings.TrimPrefix(string(ev.Kv.Key), prefix)
			switch ev.Type {
			case mvccpb.PUT:
				var t store.TokenRecord
				if json.Unmarshal(ev.Kv.Value, &t) != nil {
					continue // not a token this version can read; it cannot authenticate anyone
				}
				apply(store.TokenEvent{Rev: ev.Kv.ModRevision, Put: &t})
			case mvccpb.DELETE:
				apply(store.TokenEvent{Rev: ev.Kv.ModRevision, Deleted: id})
			}
		}
	}
	return got
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
