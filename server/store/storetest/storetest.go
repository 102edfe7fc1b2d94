// Package storetest is the one conformance suite of store.Store: every implementation (bolt,
// etcd) runs it, so that the user service and the registry can rely on the contract whichever
// store is behind them.
package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/store"
)

// Run runs the suite. open returns a fresh, empty store for one subtest (closing it is open's
// business, e.g. with t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	cases := []struct {
		name string
		fn   func(t *testing.T, st store.Store)
	}{
		{"MetaNotFoundThenFirstValueWins", metaFirstValueWins},
		{"MetaPutIfAbsentRaceYieldsOneValue", metaRace},
		{"UserRoundTripAndNotFound", userRoundTrip},
		{"UserConflictOnSlugOrID", userConflict},
		{"UserSlugRaceHasOneWinner", userSlugRace},
		{"UserRequiresIDAndSlug", userRequiresIDAndSlug},
		{"ListUsersInSlugOrderWithLimitAndTotal", listUsers},
		{"SetPasswordDeletesOtherTokensOfTheUser", setPassword},
		{"DeleteUserFreesSlugAndDeletesTokens", deleteUser},
		{"SetPasswordAndDeleteUserWithManyTokens", manyTokens},
		{"TokenLifecycle", tokenLifecycle},
		{"ReplaceTokenRaceHasOneWinner", replaceTokenRace},
		{"DeleteUserTokensExceptAndExpired", deleteTokens},
		{"InstancesRoundTripAndNotFound", instancesRoundTrip},
		{"WriteInstancesIfStoredAndDelete", writeInstancesSemantics},
		{"WriteInstancesAppliesInOrder", writeInstancesOrder},
		{"WriteInstancesLargeBatch", writeInstancesLarge},
		{"ConcurrentWriteInstancesAllLand", writeInstancesConcurrent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := open(t)
			if st.Describe() == "" {
				t.Error("Describe is empty")
			}
			c.fn(t, st)
		})
	}
}

// Times are stored as JSON: round them to what survives (no monotonic reading).
var t0 = time.Date(2026, 12, 2, 8, 0, 0, 123456789, time.UTC)

func user(id, slug string) store.UserRecord {
	return store.UserRecord{
		ID: id, Slug: slug, Name: "Name " + slug, PasswordHash: []byte("hash-" + id),
		Roles: []string{"user"}, Contacts: []store.UserContact{{Platform: "email", Handle: slug + "@example.com"}},
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func token(id, userID string, expires time.Time) store.TokenRecord {
	return store.TokenRecord{ID: id, UserID: userID, CreatedAt: t0, ExpiresAt: expires}
}

func instance(id, slug, url string) store.InstanceRecord {
	return store.InstanceRecord{
		Instance: api.Instance{ID: id, Slug: slug, URL: url},
		LastBeat: t0, HealthFormat: store.HealthFormatSplit,
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

func sameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s: ids %q, want %q", what, got, want)
	}
}

func equalUser(a, b store.UserRecord) bool {
	return a.ID == b.ID && a.Slug == b.Slug && a.Name == b.Name && string(a.PasswordHash) == string(b.PasswordHash) &&
		slices.Equal(a.Roles, b.Roles) && slices.Equal(a.Contacts, b.Contacts) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func metaFirstValueWins(t *testing.T, st store.Store) {
	_, err := st.GetMeta("k")
	wantErr(t, "GetMeta of a missing key", err, store.ErrNotFound)
	got, err := st.PutMetaIfAbsent("k", []byte("first"))
	if err != nil || string(got) != "first" {
		t.Fatalf("first PutMetaIfAbsent = %q, %v", got, err)
	}
	got, err = st.PutMetaIfAbsent("k", []byte("second"))
	if err != nil || string(got) != "first" {
		t.Fatalf("second PutMetaIfAbsent = %q, %v; want the first value back", got, err)
	}
	if got, err := st.GetMeta("k"); err != nil || string(got) != "first" {
		t.Fatalf("GetMeta = %q, %v", got, err)
	}
	// Binary values survive as they are.
	bin := []byte{0, 1, 2, 0xff, '\n'}
	if got, err := st.PutMetaIfAbsent("bin", bin); err != nil || string(got) != string(bin) {
		t.Fatalf("binary PutMetaIfAbsent = %v, %v", got, err)
	}
	if got, err := st.GetMeta("bin"); err != nil || string(got) != string(bin) {
		t.Fatalf("binary GetMeta = %v, %v", got, err)
	}
}

// N concurrent first-boot setups (as N replicas creating the signing key) agree on one value.
func metaRace(t *testing.T, st store.Store) {
	const n = 16
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := st.PutMetaIfAbsent("signing-key", []byte(fmt.Sprintf("key-%d", i)))
			got[i], errs[i] = string(v), err
		})
	}
	wg.Wait()
	for i := range n {
		must(t, errs[i])
		if got[i] != got[0] {
			t.Fatalf("caller %d got %q, caller 0 got %q: two values won", i, got[i], got[0])
		}
	}
	stored, err := st.GetMeta("signing-key")
	if err != nil || string(stored) != got[0] {
		t.Fatalf("stored %q (%v), callers got %q", stored, err, got[0])
	}
}

func userRoundTrip(t *testing.T, st store.Store) {
	u := user("u1", "alice")
	must(t, st.CreateUser(u))
	got, err := st.GetUser("u1")
	must(t, err)
	if !equalUser(got, u) {
		t.Errorf("GetUser = %+v, want %+v", got, u)
	}
	got, err = st.GetUserBySlug("alice")
	must(t, err)
	if !equalUser(got, u) {
		t.Errorf("GetUserBySlug = %+v, want %+v", got, u)
	}
	_, err = st.GetUser("nobody")
	wantErr(t, "GetUser of a missing id", err, store.ErrNotFound)
	_, err = st.GetUserBySlug("nobody")
	wantErr(t, "GetUserBySlug of a missing slug", err, store.ErrNotFound)
	_, err = st.SetPassword("nobody", []byte("h"), t0, "")
	wantErr(t, "SetPassword of a missing user", err, store.ErrNotFound)
	_, err = st.DeleteUser("nobody")
	wantErr(t, "DeleteUser of a missing user", err, store.ErrNotFound)
}

func userConflict(t *testing.T, st store.Store) {
	must(t, st.CreateUser(user("u1", "alice")))
	wantErr(t, "a taken slug", st.CreateUser(user("u2", "alice")), store.ErrConflict)
	wantErr(t, "a taken id", st.CreateUser(user("u1", "bob")), store.ErrConflict)
	// The losers left nothing behind.
	_, err := st.GetUserBySlug("bob")
	wantErr(t, "slug of a refused user", err, store.ErrNotFound)
	_, err = st.GetUser("u2")
	wantErr(t, "id of a refused user", err, store.ErrNotFound)
	if got, _ := st.GetUserBySlug("alice"); got.ID != "u1" {
		t.Errorf("alice belongs to %q after the conflicts, want u1", got.ID)
	}
}

func userSlugRace(t *testing.T, st store.Store) {
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = st.CreateUser(user(fmt.Sprintf("u%d", i), "same")) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("users %d and %d both created slug same", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("loser %d: %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no registration of the slug succeeded")
	}
	got, err := st.GetUserBySlug("same")
	if err != nil || got.ID != fmt.Sprintf("u%d", winner) {
		t.Fatalf("slug owned by %q (%v), want the winner u%d", got.ID, err, winner)
	}
	_, total, err := st.ListUsers(0)
	if err != nil || total != 1 {
		t.Fatalf("%d users after the race (%v), want 1", total, err)
	}
}

func userRequiresIDAndSlug(t *testing.T, st store.Store) {
	if err := st.CreateUser(user("", "x")); err == nil {
		t.Error("a user without id was stored")
	}
	if err := st.CreateUser(user("u1", "")); err == nil {
		t.Error("a user without slug was stored")
	}
	if err := st.PutToken(token("", "u1", t0)); err == nil {
		t.Error("a token without id was stored")
	}
	if err := st.PutToken(token("t1", "", t0)); err == nil {
		t.Error("a token without user was stored")
	}
}

func listUsers(t *testing.T, st store.Store) {
	users, total, err := st.ListUsers(0)
	if err != nil || total != 0 || len(users) != 0 {
		t.Fatalf("empty store lists %d/%d users (%v)", len(users), total, err)
	}
	// Created out of slug order, with ids in another order still.
	for i, slug := range []string{"carol", "alice", "erin", "bob", "dave"} {
		must(t, st.CreateUser(user(fmt.Sprintf("id-%d", 9-i), slug)))
	}
	slugs := func(us []store.UserRecord) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Slug)
		}
		return out
	}
	all, total, err := st.ListUsers(0)
	must(t, err)
	if want := []string{"alice", "bob", "carol", "dave", "erin"}; total != 5 || !slices.Equal(slugs(all), want) {
		t.Errorf("ListUsers(0) = %q, total %d; want %q, 5", slugs(all), total, want)
	}
	some, total, err := st.ListUsers(2)
	must(t, err)
	if want := []string{"alice", "bob"}; total != 5 || !slices.Equal(slugs(some), want) {
		t.Errorf("ListUsers(2) = %q, total %d; want %q, 5", slugs(some), total, want)
	}
	if !equalUser(all[0], user("id-8", "alice")) {
		t.Errorf("listed user %+v is not what was stored", all[0])
	}
}

func setPassword(t *testing.T, st store.Store) {
	must(t, st.CreateUser(user("u1", "alice")))
	must(t, st.CreateUser(user("u2", "bob")))
	later := t0.Add(time.Hour)
	for _, tk := range []store.TokenRecord{token("a1", "u1", later), token("a2", "u1", later), token("keep", "u1", later), token("b1", "u2", later)} {
		must(t, st.PutToken(tk))
	}
	changed := t0.Add(time.Minute)
	revoked, err := st.SetPassword("u1", []byte("new-hash"), changed, "keep")
	must(t, err)
	sameIDs(t, "SetPassword revoked", revoked, []string{"a1", "a2"})
	u, err := st.GetUser("u1")
	must(t, err)
	if string(u.PasswordHash) != "new-hash" || !u.UpdatedAt.Equal(changed) || !u.CreatedAt.Equal(t0) {
		t.Errorf("after SetPassword: hash %q, updated %v, created %v", u.PasswordHash, u.UpdatedAt, u.CreatedAt)
	}
	sameIDs(t, "tokens left", tokenIDs(t, st), []string{"keep", "b1"})
	// Without a token to keep, every token of the user goes.
	revoked, err = st.SetPassword("u1", []byte("newer"), changed, "")
	must(t, err)
	sameIDs(t, "SetPassword without keep revoked", revoked, []string{"keep"})
	sameIDs(t, "tokens left", tokenIDs(t, st), []string{"b1"})
}

func tokenIDs(t *testing.T, st store.Store) []string {
	t.Helper()
	tokens, err := st.ListTokens()
	must(t, err)
	var ids []string
	for _, tk := range tokens {
		ids = append(ids, tk.ID)
	}
	return ids
}

func deleteUser(t *testing.T, st store.Store) {
	must(t, st.CreateUser(user("u1", "alice")))
	must(t, st.CreateUser(user("u2", "bob")))
	later := t0.Add(time.Hour)
	must(t, st.PutToken(token("a1", "u1", later)))
	must(t, st.PutToken(token("a2", "u1", later)))
	must(t, st.PutToken(token("b1", "u2", later)))
	revoked, err := st.DeleteUser("u1")
	must(t, err)
	sameIDs(t, "DeleteUser revoked", revoked, []string{"a1", "a2"})
	_, err = st.GetUser("u1")
	wantErr(t, "GetUser of a deleted user", err, store.ErrNotFound)
	_, err = st.GetUserBySlug("alice")
	wantErr(t, "GetUserBySlug of a deleted user", err, store.ErrNotFound)
	sameIDs(t, "tokens left", tokenIDs(t, st), []string{"b1"})
	_, total, err := st.ListUsers(0)
	if err != nil || total != 1 {
		t.Errorf("%d users after delete (%v), want 1", total, err)
	}
	// The slug is free again.
	must(t, st.CreateUser(user("u3", "alice")))
	_, err = st.DeleteUser("u1")
	wantErr(t, "DeleteUser twice", err, store.ErrNotFound)
}

// More tokens than one etcd transaction may hold: every one is deleted and reported once.
func manyTokens(t *testing.T, st store.Store) {
	must(t, st.CreateUser(user("u1", "alice")))
	must(t, st.PutToken(token("other", "u2", t0)))
	var want []string
	for i := range 40 {
		id := fmt.Sprintf("t%02d", i)
		must(t, st.PutToken(token(id, "u1", t0)))
		want = append(want, id)
	}
	must(t, st.PutToken(token("keep", "u1", t0)))
	revoked, err := st.SetPassword("u1", []byte("new"), t0, "keep")
	must(t, err)
	sameIDs(t, "SetPassword revoked", revoked, want)
	if u, err := st.GetUser("u1"); err != nil || string(u.PasswordHash) != "new" {
		t.Fatalf("hash %q (%v) after SetPassword", u.PasswordHash, err)
	}
	want = want[:0]
	for i := range 40 {
		id := fmt.Sprintf("n%02d", i)
		must(t, st.PutToken(token(id, "u1", t0)))
		want = append(want, id)
	}
	revoked, err = st.DeleteUser("u1")
	must(t, err)
	sameIDs(t, "DeleteUser revoked", revoked, append(want, "keep"))
	sameIDs(t, "tokens left", tokenIDs(t, st), []string{"other"})
}

func tokenLifecycle(t *testing.T, st store.Store) {
	exp := t0.Add(time.Hour)
	must(t, st.PutToken(token("t1", "u1", exp)))
	tokens, err := st.ListTokens()
	must(t, err)
	if len(tokens) != 1 || tokens[0].ID != "t1" || tokens[0].UserID != "u1" || !tokens[0].ExpiresAt.Equal(exp) || !tokens[0].CreatedAt.Equal(t0) {
		t.Fatalf("ListTokens = %+v", tokens)
	}
	must(t, st.ReplaceToken("t1", token("t2", "u1", exp.Add(time.Hour))))
	sameIDs(t, "after ReplaceToken", tokenIDs(t, st), []string{"t2"})
	wantErr(t, "ReplaceToken of a replaced token", st.ReplaceToken("t1", token("t3", "u1", exp)), store.ErrNotFound)
	sameIDs(t, "after a refused ReplaceToken", tokenIDs(t, st), []string{"t2"})
	must(t, st.DeleteToken("t2"))
	wantErr(t, "DeleteToken twice", st.DeleteToken("t2"), store.ErrNotFound)
	wantErr(t, "DeleteToken of an unknown id", st.DeleteToken("never"), store.ErrNotFound)
	if ids := tokenIDs(t, st); len(ids) != 0 {
		t.Errorf("tokens left: %q", ids)
	}
}

// Of concurrent refreshes of one token (on one replica or several), exactly one succeeds.
func replaceTokenRace(t *testing.T, st store.Store) {
	must(t, st.PutToken(token("old", "u1", t0.Add(time.Hour))))
	const n = 12
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = st.ReplaceToken("old", token(fmt.Sprintf("new%d", i), "u1", t0.Add(time.Hour))) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		if err == nil {
			won++
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("refresh %d: %v, want ErrNotFound", i, err)
		}
	}
	if ids := tokenIDs(t, st); won != 1 || len(ids) != 1 {
		t.Fatalf("%d refreshes won, tokens %q; want 1 and 1", won, ids)
	}
}

func deleteTokens(t *testing.T, st store.Store) {
	for _, tk := range []store.TokenRecord{
		token("a-old", "u1", t0.Add(-time.Minute)), token("a-now", "u1", t0), token("a-new", "u1", t0.Add(time.Minute)),
		token("a-keep", "u1", t0.Add(time.Hour)), token("b-old", "u2", t0.Add(-time.Hour)), token("b-new", "u2", t0.Add(time.Hour)),
	} {
		must(t, st.PutToken(tk))
	}
	ids, err := st.DeleteExpiredTokens(t0)
	must(t, err)
	sameIDs(t, "DeleteExpiredTokens (at or before now)", ids, []string{"a-old", "a-now", "b-old"})
	ids, err = st.DeleteUserTokensExcept("u1", "a-keep")
	must(t, err)
	sameIDs(t, "DeleteUserTokensExcept", ids, []string{"a-new"})
	sameIDs(t, "tokens left", tokenIDs(t, st), []string{"a-keep", "b-new"})
	ids, err = st.DeleteExpiredTokens(t0)
	if err != nil || len(ids) != 0 {
		t.Errorf("second DeleteExpiredTokens = %q, %v; want none", ids, err)
	}
}

func instanceURLs(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	recs, err := st.Instances()
	must(t, err)
	out := map[string]string{}
	for _, r := range recs {
		if _, dup := out[r.ID]; dup {
			t.Errorf("instance %s listed twice", r.ID)
		}
		out[r.ID] = r.URL
	}
	return out
}

func instancesRoundTrip(t *testing.T, st store.Store) {
	_, err := st.GetInstance("i1")
	wantErr(t, "GetInstance of a missing id", err, store.ErrNotFound)
	if recs, err := st.Instances(); err != nil || len(recs) != 0 {
		t.Fatalf("empty store lists %d instances (%v)", len(recs), err)
	}
	must(t, st.WriteInstances(nil))
	rec := instance("i1", "alice", "http://127.0.0.1:9001")
	rec.DownSince = t0.Add(time.Second)
	must(t, st.WriteInstances([]store.InstanceWrite{{Rec: rec}}))
	got, err := st.GetInstance("i1")
	must(t, err)
	if got.ID != "i1" || got.Slug != "alice" || got.URL != rec.URL || !got.LastBeat.Equal(t0) ||
		!got.DownSince.Equal(rec.DownSince) || got.HealthFormat != store.HealthFormatSplit {
		t.Errorf("GetInstance = %+v, want %+v", got, rec)
	}
}

func writeInstancesSemantics(t *testing.T, st store.Store) {
	must(t, st.WriteInstances([]store.InstanceWrite{
		{Rec: instance("a", "s", "http://a1")},
		{Rec: instance("b", "s", "http://b1")},
	}))
	must(t, st.WriteInstances([]store.InstanceWrite{
		{Rec: instance("a", "s", "http://a2"), IfStored: true},      // stored: updated
		{Rec: instance("ghost", "s", "http://g"), IfStored: true},   // not stored: not written
		{Rec: instance("b", "s", "http://b1"), Delete: true},        // deleted
		{Rec: instance("never", "s", "http://n"), Delete: true},     // absent: fine
		{Rec: instance("c", "s", "http://c1")},                      // created
		{Rec: instance("b", "s", "http://b2"), IfStored: true},      // deleted above: stays deleted
		{Rec: instance("c", "s", "http://c2"), IfStored: true},      // created above: updated
		{Rec: instance("d", "s", "http://d1"), Delete: true},        // delete, then
		{Rec: instance("d", "s", "http://d2")},                      // created again
		{Rec: instance("d", "s", "http://d3"), IfStored: true},      // and updated
		{Rec: instance("ghost2", "s", "http://g2"), IfStored: true}, // twice, never stored
		{Rec: instance("ghost2", "s", "http://g3"), IfStored: true},
	}))
	want := map[string]string{"a": "http://a2", "c": "http://c2", "d": "http://d3"}
	if got := instanceURLs(t, st); !mapsEqual(got, want) {
		t.Errorf("instances = %v, want %v", got, want)
	}
	_, err := st.GetInstance("ghost")
	wantErr(t, "an IfStored write of a missing instance", err, store.ErrNotFound)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Writes to one instance in one batch take effect in order: the last one wins.
func writeInstancesOrder(t *testing.T, st store.Store) {
	var ws []store.InstanceWrite
	for i := range 5 {
		ws = append(ws, store.InstanceWrite{Rec: instance("x", "s", fmt.Sprintf("http://x%d", i))})
	}
	ws = append(ws, store.InstanceWrite{Rec: instance("y", "s", "http://y")}, store.InstanceWrite{Rec: instance("y", "s", ""), Delete: true})
	must(t, st.WriteInstances(ws))
	if got, want := instanceURLs(t, st), map[string]string{"x": "http://x4"}; !mapsEqual(got, want) {
		t.Errorf("instances = %v, want %v", got, want)
	}
}

// A batch larger than one etcd transaction may hold (128 operations by default) is applied.
func writeInstancesLarge(t *testing.T, st store.Store) {
	const n = 300
	var ws []store.InstanceWrite
	want := map[string]string{}
	for i := range n {
		id := fmt.Sprintf("i%03d", i)
		ws = append(ws, store.InstanceWrite{Rec: instance(id, fmt.Sprintf("s%d", i%7), "http://"+id)})
		want[id] = "http://" + id
	}
	must(t, st.WriteInstances(ws))
	ws = ws[:0]
	for i := range n {
		id := fmt.Sprintf("i%03d", i)
		switch i % 3 {
		case 0:
			ws = append(ws, store.InstanceWrite{Rec: instance(id, "s", ""), Delete: true})
			delete(want, id)
		case 1:
			ws = append(ws, store.InstanceWrite{Rec: instance(id, "s", "http://new-"+id), IfStored: true})
			want[id] = "http://new-" + id
		}
	}
	must(t, st.WriteInstances(ws))
	if got := instanceURLs(t, st); !mapsEqual(got, want) {
		t.Errorf("after a large batch: %d instances, want %d", len(got), len(want))
	}
}

// Concurrent batches (the registry's group commit on several replicas) all land.
func writeInstancesConcurrent(t *testing.T, st store.Store) {
	const writers, each = 8, 10
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				if err := st.WriteInstances([]store.InstanceWrite{{Rec: instance(id, "s", "http://"+id)}}); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	if got := instanceURLs(t, st); len(got) != writers*each {
		t.Errorf("%d instances after concurrent writes, want %d", len(got), writers*each)
	}
}
