package bolt_test

import (
	"errors"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/ooctl/oo/server/store"
	"github.com/ooctl/oo/server/store/bolt"
)

func userRec(id, slug string) store.UserRecord {
	now := time.Now().UTC()
	return store.UserRecord{ID: id, Slug: slug, Name: slug, PasswordHash: []byte("h-" + id),
		Roles: []string{"user-svc:user"}, CreatedAt: now, UpdatedAt: now}
}

func TestCreateUserIndexesSlugAndRefusesDuplicates(t *testing.T) {
	st, _ := openTemp(t)
	if err := st.CreateUser(userRec("usr_1", "alice")); err != nil {
		t.Fatal(err)
	}
	byID, err := st.GetUser("usr_1")
	if err != nil || byID.Slug != "alice" {
		t.Fatalf("GetUser = %+v, %v", byID, err)
	}
	bySlug, err := st.GetUserBySlug("alice")
	if err != nil || bySlug.ID != "usr_1" || string(bySlug.PasswordHash) != "h-usr_1" {
		t.Fatalf("GetUserBySlug = %+v, %v", bySlug, err)
	}

	if err := st.CreateUser(userRec("usr_2", "alice")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same slug, new id: %v, want ErrConflict", err)
	}
	// A clash on the id must not leave the new slug indexed: both writes are one transaction.
	if err := st.CreateUser(userRec("usr_1", "bob")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same id, new slug: %v, want ErrConflict", err)
	}
	if _, err := st.GetUserBySlug("bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("slug of a refused user is indexed: %v", err)
	}
	if _, err := st.GetUser("usr_nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser unknown: %v, want ErrNotFound", err)
	}
}

func TestListUsersInSlugOrderWithLimitAndTotal(t *testing.T) {
	st, _ := openTemp(t)
	for i, slug := range []string{"carol", "alice", "bob"} {
		if err := st.CreateUser(userRec("usr_"+string(rune('a'+i)), slug)); err != nil {
			t.Fatal(err)
		}
	}
	all, total, err := st.ListUsers(0)
	if err != nil {
		t.Fatal(err)
	}
	var slugs []string
	for _, u := range all {
		slugs = append(slugs, u.Slug)
	}
	if !slices.Equal(slugs, []string{"alice", "bob", "carol"}) || total != 3 {
		t.Errorf("ListUsers(0) = %v, total %d", slugs, total)
	}
	two, total, err := st.ListUsers(2)
	if err != nil || len(two) != 2 || total != 3 || two[1].Slug != "bob" {
		t.Errorf("ListUsers(2) = %d users (%v), total %d, %v", len(two), two, total, err)
	}
}

func tokRec(id, userID string, exp time.Time) store.TokenRecord {
	return store.TokenRecord{ID: id, UserID: userID, CreatedAt: time.Now().UTC(), ExpiresAt: exp}
}

func tokenIDs(t *testing.T, st *bolt.Store) []string {
	t.Helper()
	recs, err := st.ListTokens()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	return ids
}

func TestTokenLifecycle(t *testing.T) {
	st, _ := openTemp(t)
	later := time.Now().Add(time.Hour)
	for _, r := range []store.TokenRecord{tokRec("tok_a", "usr_1", later), tokRec("tok_b", "usr_1", later)} {
		if err := st.PutToken(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DeleteToken("tok_a"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteToken("tok_a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if err := st.ReplaceToken("tok_b", tokRec("tok_c", "usr_1", later)); err != nil {
		t.Fatal(err)
	}
	// Replacing an already replaced token fails and writes nothing: only one refresh wins.
	if err := st.ReplaceToken("tok_b", tokRec("tok_d", "usr_1", later)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("replace of a gone token: %v, want ErrNotFound", err)
	}
	if got := tokenIDs(t, st); !slices.Equal(got, []string{"tok_c"}) {
		t.Errorf("tokens = %v, want [tok_c]", got)
	}
}

func TestDeleteUserTokensExceptAndExpired(t *testing.T) {
	st, _ := openTemp(t)
	now := time.Now()
	for _, r := range []store.TokenRecord{
		tokRec("tok_keep", "usr_1", now.Add(time.Hour)),
		tokRec("tok_other1", "usr_1", now.Add(time.Hour)),
		tokRec("tok_other2", "usr_1", now.Add(time.Hour)),
		tokRec("tok_bob", "usr_2", now.Add(time.Hour)),
		tokRec("tok_old", "usr_2", now.Add(-time.Minute)),
	} {
		if err := st.PutToken(r); err != nil {
			t.Fatal(err)
		}
	}
	gone, err := st.DeleteUserTokensExcept("usr_1", "tok_keep")
	sort.Strings(gone)
	if err != nil || !slices.Equal(gone, []string{"tok_other1", "tok_other2"}) {
		t.Fatalf("DeleteUserTokensExcept = %v, %v", gone, err)
	}
	expired, err := st.DeleteExpiredTokens(now)
	if err != nil || !slices.Equal(expired, []string{"tok_old"}) {
		t.Fatalf("DeleteExpiredTokens = %v, %v", expired, err)
	}
	if got := tokenIDs(t, st); !slices.Equal(got, []string{"tok_bob", "tok_keep"}) {
		t.Errorf("tokens left = %v", got)
	}
}

func TestSetPasswordRevokesOtherTokensInOneWrite(t *testing.T) {
	st, _ := openTemp(t)
	if err := st.CreateUser(userRec("usr_1", "alice")); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	for _, r := range []store.TokenRecord{tokRec("tok_cur", "usr_1", later), tokRec("tok_old", "usr_1", later), tokRec("tok_bob", "usr_2", later)} {
		if err := st.PutToken(r); err != nil {
			t.Fatal(err)
		}
	}
	revoked, err := st.SetPassword("usr_1", []byte("new-hash"), time.Now().UTC(), "tok_cur")
	if err != nil || !slices.Equal(revoked, []string{"tok_old"}) {
		t.Fatalf("SetPassword = %v, %v", revoked, err)
	}
	u, err := st.GetUser("usr_1")
	if err != nil || string(u.PasswordHash) != "new-hash" {
		t.Errorf("hash after SetPassword = %q, %v", u.PasswordHash, err)
	}
	if got := tokenIDs(t, st); !slices.Equal(got, []string{"tok_bob", "tok_cur"}) {
		t.Errorf("tokens left = %v", got)
	}
	if _, err := st.SetPassword("usr_nope", []byte("x"), time.Now(), ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetPassword unknown user: %v, want ErrNotFound", err)
	}
}

func TestUsersAndTokensSurviveReopen(t *testing.T) {
	st, path := openTemp(t)
	if err := st.CreateUser(userRec("usr_1", "alice")); err != nil {
		t.Fatal(err)
	}
	if err := st.PutToken(tokRec("tok_a", "usr_1", time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if u, err := st2.GetUserBySlug("alice"); err != nil || u.ID != "usr_1" {
		t.Errorf("after reopen GetUserBySlug = %+v, %v", u, err)
	}
	if got := tokenIDs(t, st2); !slices.Equal(got, []string{"tok_a"}) {
		t.Errorf("after reopen tokens = %v", got)
	}
}
