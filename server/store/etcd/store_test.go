package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ooctl/oo/internal/etcdtest"
	"github.com/ooctl/oo/internal/proctest"
	"github.com/ooctl/oo/server/store"
	"github.com/ooctl/oo/server/store/etcd"
	"github.com/ooctl/oo/server/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(proctest.Main(m.Run)) }

func config(e *etcdtest.Etcd, prefix string) etcd.Config {
	cfg := etcd.Config{Endpoints: e.Endpoints(), Prefix: prefix, RequestTimeout: 10 * time.Second}
	if f := e.TLS(); f != nil {
		cfg.CAFile, cfg.CertFile, cfg.KeyFile = f.CAFile, f.CertFile, f.KeyFile
	}
	cfg.Username, cfg.Password = e.Credentials()
	return cfg
}

func open(t *testing.T, cfg etcd.Config) *etcd.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := etcd.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// The conformance suite, each case on a prefix of its own in one etcd that allows only 8
// operations per transaction, so that the large-batch case crosses many transaction bounds.
func TestConformance(t *testing.T) {
	e := etcdtest.Start(t, etcdtest.WithArgs("--max-txn-ops=8"))
	storetest.Run(t, func(t *testing.T) store.Store {
		cfg := config(e, etcdtest.Prefix(t))
		cfg.MaxTxnOps = 8
		return open(t, cfg)
	})
}

// The same suite over TLS with client certificates and a user limited to the store's prefix.
func TestConformanceTLSAndAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("the plain conformance run covers the contract")
	}
	e := etcdtest.Start(t, etcdtest.WithTLS(), etcdtest.WithAuth())
	admin := e.Client(t)
	ctx := context.Background()
	const prefix = "/platform-a/"
	for _, step := range []func() error{
		func() error { _, err := admin.RoleAdd(ctx, "oo"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "oo", prefix, clientv3.GetPrefixRangeEnd(prefix), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := admin.UserAdd(ctx, "oo", "oo-secret"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "oo", "oo"); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		cfg := config(e, prefix+strings.TrimPrefix(etcdtest.Prefix(t), "/"))
		cfg.Username, cfg.Password = "oo", "oo-secret"
		return open(t, cfg)
	})
	// Outside its prefix the user is refused: the store really ran as that user.
	cfg := config(e, "/elsewhere/")
	cfg.Username, cfg.Password = "oo", "oo-secret"
	if st, err := etcd.Open(ctx, cfg); err == nil {
		st.Close()
		t.Error("Open under a prefix the user may not touch succeeded")
	}
	cfg = config(e, prefix)
	cfg.Password = "wrong"
	if st, err := etcd.Open(ctx, cfg); err == nil {
		st.Close()
		t.Error("Open with a wrong password succeeded")
	}
}

// Two prefixes on one etcd are two separate stores.
func TestPrefixesAreSeparate(t *testing.T) {
	e := etcdtest.Start(t)
	a := open(t, config(e, "/a/"))
	b := open(t, config(e, "/b"))
	if _, err := a.PutMetaIfAbsent("k", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetMeta("k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("b sees a's key: %v", err)
	}
	if !strings.Contains(b.Describe(), "/b/") || !strings.Contains(b.Describe(), e.Endpoints()[0]) {
		t.Errorf("Describe = %q, want endpoints and the normalised prefix", b.Describe())
	}
	resp, err := e.Client(t).Get(context.Background(), "/a/meta/k")
	if err != nil || len(resp.Kvs) != 1 {
		t.Errorf("a's key is not at /a/meta/k: %v %v", resp, err)
	}
}

// A store written by a newer oo (a higher schema version under the prefix) is refused.
func TestOpenRefusesNewerSchema(t *testing.T) {
	e := etcdtest.Start(t)
	if _, err := e.Client(t).Put(context.Background(), "/oo/meta/schemaVersion", fmt.Sprint(etcd.SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := etcd.Open(ctx, etcd.Config{Endpoints: e.Endpoints()})
	if err == nil {
		st.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	if !strings.Contains(err.Error(), "schema version") {
		t.Errorf("err = %v, want it to name the schema version", err)
	}
}

func TestConfigValidation(t *testing.T) {
	ctx := context.Background()
	if _, err := etcd.Open(ctx, etcd.Config{}); err == nil {
		t.Error("Open without endpoints succeeded")
	}
	if _, err := etcd.Open(ctx, etcd.Config{Endpoints: []string{"http://127.0.0.1:1"}, CertFile: "c.pem"}); err == nil {
		t.Error("Open with a certificate but no key succeeded")
	}
	if _, err := etcd.Open(ctx, etcd.Config{Endpoints: []string{"https://127.0.0.1:1"}, CAFile: "/nonexistent/ca.pem"}); err == nil {
		t.Error("Open with a missing CA file succeeded")
	}
}

// every calls each method of the store once and returns their errors by name.
func every(st store.Store) map[string]error {
	u := store.UserRecord{ID: "u9", Slug: "zed"}
	tk := store.TokenRecord{ID: "t9", UserID: "u9"}
	errs := map[string]error{}
	errs["GetMeta"] = func() error { _, err := st.GetMeta("k"); return err }()
	errs["PutMetaIfAbsent"] = func() error { _, err := st.PutMetaIfAbsent("k2", []byte("v")); return err }()
	errs["CreateUser"] = st.CreateUser(u)
	errs["GetUser"] = func() error { _, err := st.GetUser("u1"); return err }()
	errs["GetUserBySlug"] = func() error { _, err := st.GetUserBySlug("alice"); return err }()
	errs["ListUsers"] = func() error { _, _, err := st.ListUsers(0); return err }()
	errs["SetPassword"] = func() error { _, err := st.SetPassword("u1", []byte("h"), time.Now(), ""); return err }()
	errs["DeleteUser"] = func() error { _, err := st.DeleteUser("u1"); return err }()
	errs["PutToken"] = st.PutToken(tk)
	errs["DeleteToken"] = st.DeleteToken("t1")
	errs["ReplaceToken"] = st.ReplaceToken("t1", tk)
	errs["ListTokens"] = func() error { _, err := st.ListTokens(); return err }()
	errs["DeleteUserTokensExcept"] = func() error { _, err := st.DeleteUserTokensExcept("u1", ""); return err }()
	errs["DeleteExpiredTokens"] = func() error { _, err := st.DeleteExpiredTokens(time.Now()); return err }()
	errs["GetInstance"] = func() error { _, err := st.GetInstance("i1"); return err }()
	errs["Instances"] = func() error { _, err := st.Instances(); return err }()
	errs["WriteInstances"] = st.WriteInstances([]store.InstanceWrite{{Rec: store.InstanceRecord{}}})
	return errs
}

// seed gives every read something to find.
func seed(t *testing.T, st store.Store) {
	t.Helper()
	for _, err := range []error{
		st.CreateUser(store.UserRecord{ID: "u1", Slug: "alice"}),
		st.PutToken(store.TokenRecord{ID: "t1", UserID: "u1"}),
		st.WriteInstances([]store.InstanceWrite{{Rec: store.InstanceRecord{}}}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// etcd killed, then frozen: every method fails with ErrUnavailable within its request timeout
// (no hang); when etcd is back, the same Store works again without being reopened.
func TestUnavailableFailsFastAndRecovers(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := config(e, "/oo/")
	cfg.RequestTimeout = 500 * time.Millisecond
	st := open(t, cfg)
	seed(t, st)

	for _, outage := range []struct {
		name       string
		start, end func()
	}{
		{"killed", e.Stop, func() { e.Restart(t) }},
		{"paused", e.Pause, e.Resume},
	} {
		outage.start()
		for name, err := range timed(t, st, cfg.RequestTimeout) {
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s etcd: %s: %v, want ErrUnavailable", outage.name, name, err)
			}
		}
		outage.end()
		awaitAvailable(t, st)
		for name, err := range every(st) {
			if errors.Is(err, store.ErrUnavailable) {
				t.Errorf("after %s etcd is back: %s: %v", outage.name, name, err)
			}
		}
	}
}

// timed runs every method and fails t if one took much longer than its timeout. The bound is
// loose (a loaded machine), but far below a hang.
func timed(t *testing.T, st store.Store, timeout time.Duration) map[string]error {
	t.Helper()
	start := time.Now()
	errs := every(st)
	// ListUsers scans two prefixes and SetPassword/DeleteUser read then write: at most a few
	// requests each, and the rest one.
	if d, bound := time.Since(start), time.Duration(len(errs)+8)*timeout+10*time.Second; d > bound {
		t.Errorf("%d calls on an unreachable etcd took %s (bound %s)", len(errs), d, bound)
	}
	return errs
}

func awaitAvailable(t *testing.T, st store.Store) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := st.GetMeta("schemaVersion")
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("store still failing a minute after etcd came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Open against an etcd that does not answer fails with ErrUnavailable, quickly.
func TestOpenUnreachable(t *testing.T) {
	e := etcdtest.Start(t)
	e.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	st, err := etcd.Open(ctx, etcd.Config{Endpoints: e.Endpoints(), RequestTimeout: 300 * time.Millisecond, DialTimeout: 300 * time.Millisecond})
	if err == nil {
		st.Close()
		t.Fatal("Open of a stopped etcd succeeded")
	}
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Open took %s", d)
	}
}
