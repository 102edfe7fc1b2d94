// Package etcd is the shared store: the server's state in etcd under a key prefix, so that
// several replicas see one state. It is the only package that imports the etcd client.
//
// Layout under the prefix (default "/oo/"), values JSON as in the bolt store:
//
//	meta/<key>        raw bytes (schemaVersion, the signing key, ...)
//	users/<id>        store.UserRecord
//	slugs/<slug>      user id (the index that decides slug uniqueness)
//	tokens/<id>       store.TokenRecord
//	instances/<id>    store.InstanceRecord
//	urls/<canonical>  instance id (the index that decides URL ownership across replicas)
//	beats/<id>        store.Beat (the last heartbeat replicas wrote; see instances_shared.go)
//
// Every call is bounded by Config.RequestTimeout; when etcd does not answer in time (down,
// partitioned, no leader) it fails with an error matching store.ErrUnavailable.
package etcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ooctl/oo/server/store"
)

// SchemaVersion is bumped whenever the layout of keys or values changes incompatibly.
const SchemaVersion = 1

// Defaults for Config's zero values.
const (
	DefaultPrefix         = "/oo/"
	DefaultRequestTimeout = 2 * time.Second
	DefaultDialTimeout    = 5 * time.Second
	// DefaultMaxTxnOps is etcd's own default --max-txn-ops: the most operations one
	// transaction may hold.
	DefaultMaxTxnOps = 128
)

// Config says how to reach etcd.
type Config struct {
	Endpoints []string
	// CertFile and KeyFile are a client certificate (both or neither); CAFile the CA that
	// signed etcd's certificate (the system's roots when empty).
	CertFile, KeyFile, CAFile string
	Username, Password        string
	// Prefix is prepended to every key, so that several platforms can share one etcd.
	Prefix string
	// RequestTimeout bounds every call; DialTimeout the first connection.
	RequestTimeout, DialTimeout time.Duration
	// MaxTxnOps must not exceed the server's --max-txn-ops. Larger batches are split into
	// transactions of this size, each atomic.
	MaxTxnOps int
}

func (c *Config) defaults() error {
	if len(c.Endpoints) == 0 {
		return errors.New("etcd store: no endpoints")
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.MaxTxnOps <= 0 {
		c.MaxTxnOps = DefaultMaxTxnOps
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("etcd store: a client certificate needs both the certificate and the key file")
	}
	return nil
}

// tlsConfig is nil for plain HTTP endpoints without TLS files.
func (c *Config) tlsConfig() (*tls.Config, error) {
	https := false
	for _, e := range c.Endpoints {
		https = https || strings.HasPrefix(e, "https://")
	}
	if !https && c.CAFile == "" && c.CertFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcd CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA: no certificate in %s", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Store is a connection to etcd.
type Store struct {
	c   *clientv3.Client
	cfg Config
}

// Open connects to etcd and checks (or records, the first time) the schema version under the
// prefix. It fails with store.ErrUnavailable when etcd does not answer.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		TLS:         tc,
		Username:    cfg.Username,
		Password:    cfg.Password,
		Context:     context.WithoutCancel(ctx),
		// The client logs retries and reconnects at length; the store's errors say what matters.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(cfg.Endpoints, ","), classify(err))
	}
	s := &Store{c: c, cfg: cfg}
	if err := s.checkSchema(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) checkSchema(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	raw, err := s.putIfAbsent(ctx, s.Key("meta", "schemaVersion"), []byte(strconv.Itoa(SchemaVersion)))
	if err != nil {
		return fmt.Errorf("etcd %s: %w", s.Describe(), err)
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil || v > SchemaVersion {
		return fmt.Errorf("etcd %s has schema version %q; this oo understands up to %d (upgrade oo)", s.Describe(), raw, SchemaVersion)
	}
	return nil
}

// Describe names the endpoints and prefix, for logs and status.
func (s *Store) Describe() string {
	return "etcd " + strings.Join(s.cfg.Endpoints, ",") + " prefix " + s.cfg.Prefix
}

// Close ends the connection.
func (s *Store) Close() error { return s.c.Close() }

// Key is the etcd key of parts under the prefix, joined by "/": Key("users", id); Key("users",
// "") is the prefix of every user.
func (s *Store) Key(parts ...string) string { return s.cfg.Prefix + strings.Join(parts, "/") }

// Client is the etcd client, for watches, leases and elections.
func (s *Store) Client() *clientv3.Client { return s.c }

// Timeout is the bound of one request.
func (s *Store) Timeout() time.Duration { return s.cfg.RequestTimeout }

// ctx bounds one call by the request timeout.
func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
}

// classify wraps the errors that mean etcd did not answer (down, partitioned, no leader, our
// deadline) with store.ErrUnavailable; others (permission denied, a request too large) stay
// as they are.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	switch rpctypes.Error(err) {
	case rpctypes.ErrNoLeader, rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail,
		rpctypes.ErrTimeoutDueToConnectionLost, rpctypes.ErrLeaderChanged, rpctypes.ErrStopped,
		rpctypes.ErrUnhealthy, rpctypes.ErrTooManyRequests:
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
		}
	}
	return err
}

// GetMeta returns the value stored under key, or store.ErrNotFound.
func (s *Store) GetMeta(key string) ([]byte, error) {
	v, _, err := s.get(s.Key("meta", key))
	return v, err
}

// PutMetaIfAbsent stores value under key unless a value is there, and returns the value stored
// afterwards. The compare on the key's creation revision makes it atomic across replicas.
func (s *Store) PutMetaIfAbsent(key string, value []byte) ([]byte, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.putIfAbsent(ctx, s.Key("meta", key), value)
}

func (s *Store) putIfAbsent(ctx context.Context, k string, value []byte) ([]byte, error) {
	resp, err := s.c.Txn(ctx).
		If(absent(k)).
		Then(clientv3.OpPut(k, string(value))).
		Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return nil, classify(err)
	}
	if resp.Succeeded {
		return value, nil
	}
	return resp.Responses[0].GetResponseRange().Kvs[0].Value, nil
}

func absent(k string) clientv3.Cmp  { return clientv3.Compare(clientv3.CreateRevision(k), "=", 0) }
func present(k string) clientv3.Cmp { return clientv3.Compare(clientv3.CreateRevision(k), ">", 0) }

// get returns the value at k and the revision read, or store.ErrNotFound.
func (s *Store) get(k string, opts ...clientv3.OpOption) ([]byte, int64, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.c.Get(ctx, k, opts...)
	if err != nil {
		return nil, 0, classify(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, resp.Header.Revision, store.ErrNotFound
	}
	return resp.Kvs[0].Value, resp.Header.Revision, nil
}

// getJSON decodes the value at k into v, or returns store.ErrNotFound.
func (s *Store) getJSON(k string, v any, opts ...clientv3.OpOption) error {
	raw, _, err := s.get(k, opts...)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

func opPutJSON(k string, v any) (clientv3.Op, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return clientv3.Op{}, err
	}
	return clientv3.OpPut(k, string(raw)), nil
}

// pageSize bounds one range read of a listing, so that a large table is not one huge message.
const pageSize = 500

// list decodes every value under the prefix kind, in key order, read at one revision in pages.
func list[T any](s *Store, kind string) ([]T, error) {
	var out []T
	_, err := s.scan(kind, 0, func(_ string, raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// scan calls fn with each key (without the prefix) and value under kind, in key order, all read
// at revision rev (0: the current one), in pages with a request timeout each. It returns the
// revision read.
func (s *Store) scan(kind string, rev int64, fn func(id string, raw []byte) error) (int64, error) {
	return s.scanKVs(context.Background(), kind, rev, func(id string, kv *mvccpb.KeyValue) error {
		if err := fn(id, kv.Value); err != nil {
			return fmt.Errorf("%s: %w", kv.Key, err)
		}
		return nil
	})
}

// chunkSize is how many operations go in one transaction: one less than the server's limit,
// because etcd counts a nested transaction against what its parent leaves.
func (s *Store) chunkSize() int { return max(1, s.cfg.MaxTxnOps-1) }

// commitChunks runs ops as transactions of at most chunkSize operations, each atomic, in order,
// and returns the responses of all of them.
func (s *Store) commitChunks(ops []clientv3.Op) ([]*etcdserverpb.ResponseOp, error) {
	var out []*etcdserverpb.ResponseOp
	for len(ops) > 0 {
		n := min(len(ops), s.chunkSize())
		ctx, cancel := s.ctx()
		resp, err := s.c.Txn(ctx).Then(ops[:n]...).Commit()
		cancel()
		if err != nil {
			return out, classify(err)
		}
		out = append(out, resp.Responses...)
		ops = ops[n:]
	}
	return out, nil
}

var _ store.Store = (*Store)(nil)
