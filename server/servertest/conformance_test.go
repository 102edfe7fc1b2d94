package servertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
)

// TestSchemasHoldTheUpstreamContract: docs/openapi.yaml refuses what the upstream client refuses and
// accept what oo sends, so the conformance check cannot pass vacuously.
func TestSchemasHoldTheUpstreamContract(t *testing.T) {
	const inst = `"id":"inst_a","url":"http://127.0.0.1:9311","status":"Healthy","port":9311,"lastHeartbeat":"2026-01-02T15:04:05.123Z"`
	list := func(fields string) string { return `{"instances":[{` + fields + `}]}` }
	user := `{"id":"usr_a","name":"A","slug":"a","createdAt":"2026-01-02T15:04:05Z","updatedAt":"2026-01-02T15:04:05Z"`
	for _, tc := range []struct {
		name         string
		method, path string
		extras       bool
		status       int
		body         string
		wantErr      string // "" = valid
	}{
		{"upstream list", "GET", api.PathInstances, false, 200, list(inst), ""},
		{"empty list", "GET", api.PathInstances, false, 200, `{"instances":[]}`, ""},
		{"oo key by default", "GET", api.PathInstances, false, 200, list(inst + `,"createdAt":"2026-01-02T15:04:05Z"`), "createdAt"},
		{"oo key with extras", "GET", api.PathInstances, true, 200, list(inst + `,"createdAt":"2026-01-02T15:04:05Z","healthPath":"/h"`), ""},
		{"extras keep upstream types", "GET", api.PathInstances, true, 200, list(`"id":"i","url":"u","status":"Healthy","port":"9311"`), "port"},
		{"port as a string", "GET", api.PathInstances, false, 200, list(`"id":"i","url":"u","status":"Healthy","port":"9311"`), "port"},
		{"status outside the enum", "GET", api.PathInstances, false, 200, list(`"id":"i","url":"u","status":"Running"`), "status"},
		{"url missing", "GET", api.PathInstances, false, 200, list(`"id":"i","status":"Healthy"`), "url"},
		{"lastHeartbeat not RFC 3339", "GET", api.PathInstances, false, 200, list(`"id":"i","url":"u","status":"Healthy","lastHeartbeat":"10s ago"`), "lastHeartbeat"},
		{"register answer", "PUT", api.PathInstance, false, 201, `{"instance":{` + inst + `,"heartbeatTtl":"1h"}}`, "heartbeatTtl"},
		{"register answer {}", "PUT", api.PathInstance, false, 201, `{}`, ""},
		{"register status", "PUT", api.PathInstance, false, 200, `{}`, "200"},
		{"heartbeat", "PUT", api.HeartbeatPath("inst_a"), false, 200, `{"instance":{` + inst + `}}`, ""},
		{"get with extras", "GET", api.InstancePath("inst_a"), true, 200, `{"instance":{` + inst + `,"meta":{"a":"b"}}}`, ""},
		{"delete", "DELETE", api.InstancePath("inst_a"), false, 204, ``, ""},
		{"delete with a body", "DELETE", api.InstancePath("inst_a"), false, 204, `{}`, "204"},
		{"error", "GET", api.PathInstances, false, 401, `{"error":"no token"}`, ""},
		{"error without its key", "POST", "/user-svc/nope", false, 404, `{"message":"x"}`, "error"},
		{"lenient user model", "POST", api.PathUserByToken, false, 200, `{"user":` + user + `,"roles":["r"],"x":1},"organizations":[],"activeOrganizationId":""}`, ""},
		{"no password hash", "POST", api.PathUsers, false, 200, `{"users":[` + user + `,"passwordHash":"h"}],"count":1}`, "passwordHash"},
		{"token", "POST", api.PathLogin, false, 200, `{"token":{"id":"tok_a","userId":"usr_a","token":"t","active":true,"createdAt":"2026-01-02T15:04:05Z","updatedAt":"2026-01-02T15:04:05Z","expiresAt":"2026-02-02T15:04:05Z"}}`, ""},
		{"token without the bearer", "POST", api.PathRegister, false, 200, `{"token":{"id":"tok_a","userId":"usr_a","active":true,"createdAt":"2026-01-02T15:04:05Z","updatedAt":"2026-01-02T15:04:05Z"}}`, "token"},
		{"not JSON", "GET", api.PathHealthz, false, 200, `ok`, "not JSON"},
		{"undeclared endpoint", "GET", "/registry-svc/something-new", false, 200, `{"anything":1}`, "no such operation"},
		{"unknown endpoint 404", "GET", "/registry-svc/something-new", false, 404, `{"error":"no such endpoint"}`, ""},
		{"known path, other method", "POST", api.PathInstances, false, 405, `{"error":"method POST not allowed"}`, ""},
		{"405 without its key", "POST", api.PathInstances, false, 405, `{}`, "error"},
		{"undeclared status", "DELETE", api.InstancePath("inst_a"), false, 409, `{"error":"x"}`, "409"},
		{"undeclared 2xx", "GET", api.PathHealthz, false, 201, `{"status":"ok"}`, "201"},
	} {
		err := ValidateBody(tc.method, tc.path, tc.extras, tc.status, []byte(tc.body))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("%s: accepted %s", tc.name, tc.body)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("%s: the error does not name %q: %v", tc.name, tc.wantErr, err)
		}
	}
}

// TestRecorderReportsBadAnswers: an answer that breaks the contract fails the test that
// provoked it.
func TestRecorderReportsBadAnswers(t *testing.T) {
	ft := &fakeTB{TB: t}
	rec := &recorder{t: ft}
	bad := rec.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"instances":[{"id":"i","url":"u","status":"Healthy","createdAt":"2026-01-02T15:04:05Z"}]}`))
	}))
	bad.ServeHTTP(httptest.NewRecorder(), mustRequest(t, http.MethodGet, api.PathInstances))
	bad.ServeHTTP(httptest.NewRecorder(), mustRequest(t, http.MethodGet, "/some-svc/instances")) // proxied: not checked
	rec.report()
	if len(ft.errors) != 1 || !strings.Contains(ft.errors[0], "createdAt") {
		t.Fatalf("reported %q", ft.errors)
	}
}

type fakeTB struct {
	testing.TB
	errors []string
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func mustRequest(t *testing.T, method, path string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, "http://127.0.0.1"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
