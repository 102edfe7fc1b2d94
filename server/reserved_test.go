package server_test

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/store"
	"github.com/ooctl/oo/server/store/bolt"
)

// TestWarnsAboutAccountWithNewlyReservedSlug: an account named "ui", created before the
// dashboard reserved that segment, is named in a warning at start; other accounts are not.
func TestWarnsAboutAccountWithNewlyReservedSlug(t *testing.T) {
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, server.DBFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, u := range []store.UserRecord{
		{ID: "usr_old_ui", Slug: "ui", Name: "ui", PasswordHash: []byte("x"), CreatedAt: now, UpdatedAt: now},
		{ID: "usr_fine", Slug: "uix", Name: "uix", PasswordHash: []byte("x"), CreatedAt: now, UpdatedAt: now},
	} {
		if err := st.CreateUser(u); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	var logs bytes.Buffer
	cfg := quietConfig(dir)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var warned []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "reserves") {
			warned = append(warned, line)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "slug=ui ") || !strings.Contains(warned[0], "user_id=usr_old_ui") {
		t.Fatalf("want one warning naming slug ui (usr_old_ui), got %q\nlog:\n%s", warned, logs.String())
	}
}
