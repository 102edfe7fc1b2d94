package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/store"
)

// A store that does not answer (etcd down) must reach the client as a fast, retryable 503 with
// the JSON error shape, not as a 500 that hides what happened.
func TestStoreUnavailableIs503(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPut, "/registry-svc/instance", nil)
	WriteError(rec, req, slog.New(slog.DiscardHandler), fmt.Errorf("put instance: %w", store.ErrUnavailable))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After on a 503 the client should retry")
	}
	var body api.ErrorResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || !strings.Contains(body.Error, "store is unavailable") {
		t.Fatalf("body %q (%v), want a JSON error naming the store", rec.Body.String(), err)
	}
}
