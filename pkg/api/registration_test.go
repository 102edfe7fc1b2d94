package api

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestCheckRegistration: each refused field is named, and its message starts with that name
// (clients put their own name for it in its place); an accepted request comes back parsed.
func TestCheckRegistration(t *testing.T) {
	ok, err := CheckRegistration(RegisterInstanceRequest{URL: "HTTP://LocalHost:8080/", HeartbeatTTL: "1m", HealthPath: "/healthz?x=1", ID: "my-id_1"})
	if err != nil || ok.Target.Canonical != "http://127.0.0.1:8080" || ok.TTL != time.Minute {
		t.Fatalf("valid request: %+v, %v", ok, err)
	}
	for _, tc := range []struct {
		req   RegisterInstanceRequest
		field string
	}{
		{RegisterInstanceRequest{}, "url"},
		{RegisterInstanceRequest{URL: "127.0.0.1:80"}, "url"},
		{RegisterInstanceRequest{URL: "http://a:b@127.0.0.1:80"}, "url"},
		{RegisterInstanceRequest{URL: "http://0x7f.1:80"}, "url"},
		{RegisterInstanceRequest{URL: "http://127.0.0.1:80", HeartbeatTTL: "0s"}, "heartbeatTtl"},
		{RegisterInstanceRequest{URL: "http://127.0.0.1:80", HeartbeatTTL: "soon"}, "heartbeatTtl"},
		{RegisterInstanceRequest{URL: "http://127.0.0.1:80", HealthPath: "healthz"}, "healthPath"},
		{RegisterInstanceRequest{URL: "http://127.0.0.1:80", HealthPath: "/" + strings.Repeat("a", MaxHealthPathLen)}, "healthPath"},
		{RegisterInstanceRequest{URL: "http://127.0.0.1:80", HealthPath: "/a\r\nX: y"}, "healthPath"},
		{RegisterInstanceRequest{URL: "http://127.0.0.1:80", ID: "no/slash"}, "id"},
		{RegisterInstanceRequest{URL: "http://127.0.0.1:80", ID: strings.Repeat("a", 65)}, "id"},
	} {
		_, err := CheckRegistration(tc.req)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.HasPrefix(fe.Message, tc.field+" ") {
			t.Errorf("%+v: %#v, want a FieldError for %s whose message starts with it", tc.req, err, tc.field)
		}
	}
	if _, err := ParseHeartbeatTTL("-1s"); err == nil || !strings.HasPrefix(err.Error(), "ttl ") {
		t.Errorf("heartbeat ttl -1s: %v", err)
	}
}
