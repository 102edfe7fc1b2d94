package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// The prober election: every replica campaigns under election/prober with a session (a lease
// kept alive); the leader health-checks all instances, the others only serve. A leader that
// dies stops renewing its lease and etcd deletes its campaign key within the TTL, which elects
// the next replica in line. A leader cut off from etcd sees its session end once the lease can
// no longer have been renewed, and stops probing by then, so two probers overlap for at most
// about one request timeout.

func (s *Store) electionPrefix() string { return s.Key("election", "prober") }

// RunMember keeps replica m registered (replicas/<id>) and in the prober election until ctx is
// done, each on a lease of ttl (DefaultReplicaTTL when 0). onProber(true) is called when m
// becomes the prober and onProber(false) when it stops being one (session lost, ctx done);
// calls alternate, starting with true. A lost session (etcd unreachable for longer than ttl)
// is replaced by a new one as soon as etcd answers again. When ctx is done the replica resigns
// and revokes its lease, so the others see it leave at once instead of after ttl.
func (s *Store) RunMember(ctx context.Context, m Member, ttl time.Duration, onProber func(bool), log *slog.Logger) {
	if ttl <= 0 {
		ttl = DefaultReplicaTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pause := watchRetryMin
	for ctx.Err() == nil {
		began := time.Now()
		err := s.memberSession(ctx, m, ttl, onProber, log)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > ttl {
			pause = watchRetryMin
		}
		log.Warn("replica lost its etcd session; registering again", "replica", m.ID, "err", err)
		sleepCtx(ctx, pause)
		pause = min(2*pause, ttl)
	}
}

// memberSession is one lease's worth of membership: register, campaign, lead until the session
// ends. It returns why it ended.
func (s *Store) memberSession(ctx context.Context, m Member, ttl time.Duration, onProber func(bool), log *slog.Logger) error {
	secs := int64(math.Ceil(ttl.Seconds()))
	gctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	lease, err := s.c.Grant(gctx, secs)
	cancel()
	if err != nil {
		return fmt.Errorf("grant lease: %w", classify(err))
	}
	// The session only keeps the lease alive; granting and revoking are done here, with
	// timeouts, since the session's own would wait for etcd without bound.
	sess, err := concurrency.NewSession(s.c, concurrency.WithLease(lease.ID), concurrency.WithTTL(int(secs)), concurrency.WithContext(ctx))
	if err != nil {
		s.revoke(lease.ID)
		return fmt.Errorf("session: %w", classify(err))
	}
	defer func() {
		sess.Orphan()
		s.revoke(lease.ID)
	}()
	if err := s.register(ctx, m, lease.ID); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-sess.Done():
			stop()
		case <-cctx.Done():
		}
	}()
	el := concurrency.NewElection(sess, s.electionPrefix())
	if err := el.Campaign(cctx, m.ID); err != nil {
		return fmt.Errorf("campaign: %w", classify(err))
	}
	log.Info("this replica is now the prober", "replica", m.ID)
	onProber(true)
	select {
	case <-sess.Done():
		err = errors.New("lease expired (etcd unreachable for longer than the TTL)")
	case <-ctx.Done():
		err = ctx.Err()
	}
	onProber(false)
	log.Info("this replica stopped probing", "replica", m.ID, "why", err)
	return err
}

// revoke ends a lease (its registration and campaign key go with it), bounded by the request
// timeout; when etcd does not answer the lease simply expires.
func (s *Store) revoke(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	_, _ = s.c.Revoke(ctx, id)
}
