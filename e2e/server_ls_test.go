package e2e

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/etcdtest"
)

type lsReplicas struct {
	Store    string
	Replicas []struct {
		ID, Address  string
		Prober, Self bool
	}
}

// Two real `oo server start --store etcd` on one HOME (no bbolt file between them to lock):
// `oo server ls` against either shows both and one prober; kill -9 the prober and the other
// replica is alone and probing within a few seconds (the lease TTL, 5s).
func TestServerLsOnEtcdAndProberTakeover(t *testing.T) {
	t.Parallel()
	etcd := etcdtest.Start(t)
	e := newEnv(t).With("OO_STORE=etcd", "OO_ETCD_ENDPOINTS="+etcd.Endpoints()[0], "OO_ETCD_PREFIX="+etcdtest.Prefix(t))
	a := e.StartServer()
	b := e.StartServer()
	tok := cliLoginToken(t, a.URL, "admin", adminPassword)
	ls := func(p *serverProc, args ...string) result {
		return e.With("OO_URL="+p.URL, "OO_TOKEN="+tok).Run("", append([]string{"server", "ls"}, args...)...)
	}
	lsJSON := func(p *serverProc) lsReplicas {
		r := ls(p, "-o", "json")
		cliWant(t, r, 0)
		var out lsReplicas
		if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
			t.Fatalf("oo server ls -o json: %v\n%s", err, r.Stdout)
		}
		return out
	}
	probers := func(l lsReplicas) int {
		n := 0
		for _, r := range l.Replicas {
			if r.Prober {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	var l lsReplicas
	for l = lsJSON(b); len(l.Replicas) != 2 || probers(l) != 1; l = lsJSON(b) {
		if time.Now().After(deadline) {
			t.Fatalf("not two replicas and one prober within 30s: %+v", l)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if l.Store != "etcd" {
		t.Errorf("store %q", l.Store)
	}

	// The table: a header, one row per replica; B's own row marked, one "yes".
	r := ls(b)
	cliWant(t, r, 0)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "PROBER") || strings.Count(r.Stdout, "yes") != 1 ||
		!strings.Contains(r.Stdout, a.Addr) || !strings.Contains(r.Stdout, b.Addr) {
		t.Fatalf("oo server ls:\n%s", r.Stdout)
	}
	for _, line := range lines[1:] {
		if strings.Contains(line, b.Addr) != strings.Contains(line, " *") {
			t.Errorf("the answering replica (B, %s) is not the one marked *: %q", b.Addr, line)
		}
	}

	prober, survivor := a, b
	for _, x := range l.Replicas {
		if x.Prober && x.Address == b.Addr {
			prober, survivor = b, a
		}
	}
	if err := syscall.Kill(-prober.Cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		l = lsJSON(survivor)
		if len(l.Replicas) == 1 && l.Replicas[0].Self && l.Replicas[0].Prober {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("20s after kill -9 of the prober: %+v", l)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("after kill -9 of the prober, the survivor lists itself alone as prober in %s (lease TTL 5s)", time.Since(start).Round(10*time.Millisecond))
}
