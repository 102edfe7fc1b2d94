package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/ooctl/oo/server/store"
	"github.com/ooctl/oo/server/store/bolt"
	"github.com/ooctl/oo/server/store/etcd"
)

// openStore opens the store cfg.Store names. With etcd it also returns the etcd store itself,
// which the user service, the registry and the replica membership use beyond store.Store;
// the bbolt file is then never opened.
func openStore(cfg *Config) (store.Store, *etcd.Store, error) {
	switch cfg.Store {
	case StoreBolt:
		if cfg.DataDir == "" {
			return nil, nil, errors.New("no data dir given")
		}
		st, err := bolt.Open(filepath.Join(cfg.DataDir, DBFile), bolt.Options{})
		return st, nil, err
	case StoreEtcd:
		if len(cfg.Etcd.Endpoints) == 0 {
			return nil, nil, errors.New("--store etcd needs --etcd-endpoints (or OO_ETCD_ENDPOINTS), e.g. http://127.0.0.1:2379")
		}
		// etcd.Open bounds the dial and the first request itself; this bounds the whole so
		// that a server pointed at nothing says so within seconds.
		ctx, cancel := context.WithTimeout(context.Background(), etcdOpenTimeout(cfg.Etcd))
		defer cancel()
		st, err := etcd.Open(ctx, cfg.Etcd)
		if err != nil {
			if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
				// The client's own words ("context deadline exceeded") add nothing a user can
				// act on; they go to the debug log.
				cfg.Logger.Debug("etcd open failed", "err", err)
				return nil, nil, fmt.Errorf("cannot reach etcd at %s: it did not answer (is it running, and are --etcd-endpoints and the TLS flags right?)",
					strings.Join(cfg.Etcd.Endpoints, ","))
			}
			return nil, nil, err
		}
		return st, st, nil
	}
	return nil, nil, fmt.Errorf("--store must be %s or %s, not %q", StoreBolt, StoreEtcd, cfg.Store)
}

// etcdOpenTimeout is the dial timeout plus one request's.
func etcdOpenTimeout(c etcd.Config) time.Duration {
	d, r := c.DialTimeout, c.RequestTimeout
	if d <= 0 {
		d = etcd.DefaultDialTimeout
	}
	if r <= 0 {
		r = etcd.DefaultRequestTimeout
	}
	return d + r
}
