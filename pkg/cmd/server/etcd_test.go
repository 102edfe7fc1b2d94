package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ooctl/oo/internal/etcdtest"
	"github.com/ooctl/oo/pkg/cmdutil"
)

func TestStartRefusesBadStoreFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--store", "zookeeper"},
		{"--store", "etcd"},
		{"--store", "etcd", "--etcd-endpoints", " , "},
		{"--store", "etcd", "--etcd-endpoints", "http://127.0.0.1:1", "--etcd-cert", "c.pem"},
		{"--store", "etcd", "--etcd-endpoints", "http://127.0.0.1:1", "--etcd-password", "pw"},
		{"--store", "etcd", "--etcd-endpoints", "http://127.0.0.1:1", "--etcd-prefix", "oo"},
	} {
		_, err := startCmd(context.Background(), append(args, "--data-dir", t.TempDir(), "--addr", freeAddr(t))...)
		if code := cmdutil.ExitCode(err); code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d (%v), want usage error", args, code, err)
		}
	}
}

// OO_STORE and OO_ETCD_ENDPOINTS name an etcd that is not running: one line saying so, soon.
func TestStartReportsUnreachableEtcd(t *testing.T) {
	t.Setenv("OO_STORE", "etcd")
	endpoint := "http://" + freeAddr(t)
	t.Setenv("OO_ETCD_ENDPOINTS", endpoint)
	start := time.Now()
	_, err := startCmd(context.Background(), "--addr", freeAddr(t))
	if err == nil || cmdutil.ExitCode(err) == cmdutil.ExitOK || !strings.Contains(err.Error(), "cannot reach etcd at "+endpoint) ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v; want one line naming the endpoint", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("took %s to give up on etcd", took)
	}
}

// The flags reach etcd: the replica registers under --etcd-prefix with its --advertise.
func TestStartOnEtcdRegistersUnderPrefix(t *testing.T) {
	e := etcdtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := startCmd(ctx, "--store", "etcd", "--etcd-endpoints", e.Endpoints()[0]+", ", "--etcd-prefix", "/team-a/",
			"--advertise", "oo-1.test:58231", "--addr", freeAddr(t), "--probe-interval", "0")
		done <- err
	}()
	c := e.Client(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		rsp, err := c.Get(context.Background(), "/team-a/replicas/", clientv3.WithPrefix())
		if err == nil && len(rsp.Kvs) == 1 {
			var m struct{ Address string }
			if json.Unmarshal(rsp.Kvs[0].Value, &m) != nil || m.Address != "oo-1.test:58231" {
				t.Fatalf("registered %s", rsp.Kvs[0].Value)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replica under /team-a/ within 30s (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stop: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop within 20s")
	}
	// A clean stop revokes the registration at once.
	if rsp, err := c.Get(context.Background(), "/team-a/replicas/", clientv3.WithPrefix()); err != nil || len(rsp.Kvs) != 0 {
		t.Errorf("after a clean stop: %v, %d registrations left", err, len(rsp.Kvs))
	}
}
