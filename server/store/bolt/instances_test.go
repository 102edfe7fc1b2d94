package bolt_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/store"
	"github.com/ooctl/oo/server/store/bolt"
)

func instRec(id, url string) store.InstanceRecord {
	return store.InstanceRecord{Instance: api.Instance{ID: id, URL: url, Status: api.StatusUnknown, Slug: "svc"}}
}

func TestInstancesRoundTripAndSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oo.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	beat := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := instRec("inst_a", "http://127.0.0.1:1")
	a.LastBeat = beat
	a.HeartbeatTTL = "15s"
	if err := st.PutInstance(a); err != nil {
		t.Fatal(err)
	}
	if err := st.PutInstance(instRec("inst_b", "http://127.0.0.1:2")); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteInstance("inst_b"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteInstance("inst_b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	st.Close()

	st, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.Instances()
	if err != nil || len(all) != 1 {
		t.Fatalf("after reopen: %v, %v", all, err)
	}
	got := all[0]
	if got.ID != "inst_a" || !got.LastBeat.Equal(beat) || got.HeartbeatTTL != "15s" || !got.DownSince.IsZero() {
		t.Fatalf("after reopen: %+v", got)
	}
}

func TestUpdateInstancesSkipsDeleted(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "oo.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutInstance(instRec("inst_a", "http://127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	a := instRec("inst_a", "http://127.0.0.1:1")
	a.Status = api.StatusHealthy
	gone := instRec("inst_gone", "http://127.0.0.1:2")
	n, err := st.UpdateInstances([]store.InstanceRecord{a, gone})
	if err != nil || n != 1 {
		t.Fatalf("UpdateInstances wrote %d, %v; want 1", n, err)
	}
	if _, err := st.GetInstance("inst_gone"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a batch resurrected a deleted instance: %v", err)
	}
	if got, _ := st.GetInstance("inst_a"); got.Status != api.StatusHealthy {
		t.Fatalf("status %s, want Healthy", got.Status)
	}
}
