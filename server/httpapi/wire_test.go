package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

// upstreamInstance is the upstream generated client's RegistrySvcInstance, field for field and
// type for type (port int32, lastHeartbeat a string).
type upstreamInstance struct {
	DeploymentID  *string  `json:"deploymentId,omitempty"`
	Details       *string  `json:"details,omitempty"`
	Host          *string  `json:"host,omitempty"`
	ID            string   `json:"id"`
	IP            *string  `json:"ip,omitempty"`
	LastHeartbeat *string  `json:"lastHeartbeat,omitempty"`
	NodeURL       *string  `json:"nodeUrl,omitempty"`
	Path          *string  `json:"path,omitempty"`
	Port          *int32   `json:"port,omitempty"`
	Scheme        *string  `json:"scheme,omitempty"`
	Slug          *string  `json:"slug,omitempty"`
	Status        string   `json:"status"`
	Tags          []string `json:"tags,omitempty"`
	URL           string   `json:"url"`
}

// decodeUpstream decodes one instance the way the upstream client does: the required keys must
// be present and any other key fails the call. It also checks what the client relies on: the
// status enum and an RFC 3339 lastHeartbeat.
func decodeUpstream(raw json.RawMessage) (upstreamInstance, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return upstreamInstance{}, err
	}
	for _, k := range []string{"id", "status", "url"} {
		if _, ok := keys[k]; !ok {
			return upstreamInstance{}, fmt.Errorf("no value given for required property %s", k)
		}
	}
	var in upstreamInstance
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, err
	}
	if !slices.Contains([]string{"Unknown", "Healthy", "Degraded", "Unreachable", "Error"}, in.Status) {
		return in, fmt.Errorf("status %q is outside the enum", in.Status)
	}
	if in.LastHeartbeat != nil {
		if _, err := time.Parse(time.RFC3339, *in.LastHeartbeat); err != nil {
			return in, fmt.Errorf("lastHeartbeat: %v", err)
		}
	}
	return in, nil
}

// TestWireInstanceIsUpstreamByDefault: every answer that carries an instance decodes in the
// upstream client unless the client asked for oo's extensions; with Prefer: oo-extras the
// extensions are there.
func TestWireInstanceIsUpstreamByDefault(t *testing.T) {
	s := regStart(t, -1)
	tok := s.Register(t, "wire-svc", "wire-svc-password-1")
	reg := api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311/base", HealthPath: "/health", HeartbeatTTL: "1h", Tags: []string{"a"}}
	first := regCall(t, s, http.MethodPut, api.PathInstance, tok, reg)
	if first.status != http.StatusCreated {
		t.Fatalf("register: HTTP %d %s", first.status, first.body)
	}
	var created struct{ Instance json.RawMessage }
	if err := json.Unmarshal(first.body, &created); err != nil || created.Instance == nil {
		t.Fatalf("register answer %s: %v", first.body, err)
	}
	in, err := decodeUpstream(created.Instance)
	if err != nil {
		t.Fatalf("register answer %s: %v", created.Instance, err)
	}
	id := in.ID

	answers := map[string]regResult{
		"register":  first,
		"list":      regCall(t, s, http.MethodGet, api.PathInstances, tok, nil),
		"get":       regCall(t, s, http.MethodGet, api.InstancePath(id), tok, nil),
		"heartbeat": regCall(t, s, http.MethodPut, api.HeartbeatPath(id), tok, api.HeartbeatRequest{}),
	}
	for name, res := range answers {
		if res.status/100 != 2 {
			t.Fatalf("%s: HTTP %d %s", name, res.status, res.body)
		}
		var body struct {
			Instance  json.RawMessage
			Instances []json.RawMessage
		}
		if err := json.Unmarshal(res.body, &body); err != nil {
			t.Fatal(err)
		}
		list := body.Instances
		if body.Instance != nil {
			list = append(list, body.Instance)
		}
		if len(list) != 1 {
			t.Fatalf("%s: %d instances in %s", name, len(list), res.body)
		}
		got, err := decodeUpstream(list[0])
		if err != nil {
			t.Errorf("%s: the upstream client would fail: %v\n%s", name, err, list[0])
			continue
		}
		if got.ID != id || got.Port == nil || *got.Port != 9311 || got.Path == nil || *got.Path != "/base" {
			t.Errorf("%s: %+v", name, got)
		}
		if !slices.Contains(res.header.Values("Vary"), api.HeaderPrefer) || res.header.Get(api.HeaderPreferenceApplied) != "" {
			t.Errorf("%s: Vary %q, Preference-Applied %q", name, res.header.Values("Vary"), res.header.Get(api.HeaderPreferenceApplied))
		}
	}
	if got, _ := decodeUpstream(json.RawMessage(mustField(t, answers["heartbeat"].body, "instance"))); got.LastHeartbeat == nil {
		t.Errorf("heartbeat answer has no lastHeartbeat: %s", answers["heartbeat"].body)
	}

	for _, prefer := range []string{api.PreferExtras, "respond-async, OO-Extras", "wait=5; x=1, oo-extras;y"} {
		res := regCallH(t, s, http.MethodGet, api.PathInstances, tok, nil, http.Header{api.HeaderPrefer: {prefer}})
		var out api.ListInstancesResponse
		if err := json.Unmarshal(res.body, &out); err != nil || len(out.Instances) != 1 {
			t.Fatalf("Prefer %q: %s %v", prefer, res.body, err)
		}
		x := out.Instances[0]
		if x.CreatedAt.IsZero() || x.HealthPath != "/health" || x.HeartbeatTTL != "1h" {
			t.Errorf("Prefer %q: extras missing: %+v", prefer, x)
		}
		if res.header.Get(api.HeaderPreferenceApplied) != api.PreferExtras {
			t.Errorf("Prefer %q: Preference-Applied %q", prefer, res.header.Get(api.HeaderPreferenceApplied))
		}
	}
	for _, name := range []string{"register", "get", "heartbeat"} {
		var res regResult
		switch name {
		case "register":
			res = regCallH(t, s, http.MethodPut, api.PathInstance, tok, reg, extrasHeader)
		case "get":
			res = regCallH(t, s, http.MethodGet, api.InstancePath(id), tok, nil, extrasHeader)
		case "heartbeat":
			res = regCallH(t, s, http.MethodPut, api.HeartbeatPath(id), tok, api.HeartbeatRequest{}, extrasHeader)
		}
		var out api.HeartbeatResponse
		if err := json.Unmarshal(res.body, &out); err != nil || out.Instance.CreatedAt.IsZero() || out.Instance.HeartbeatTTL != "1h" {
			t.Errorf("%s with extras: %s %v", name, res.body, err)
		}
	}
}

// mustField returns the raw value of key in a JSON object.
func mustField(t *testing.T, body []byte, key string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m[key]
}

// TestWireListFiltersByScheme: scheme is one of the upstream list filters; ignoring it would
// hand an upstream client instances it filtered out.
func TestWireListFiltersByScheme(t *testing.T) {
	s := regStart(t, -1)
	tok := s.Register(t, "scheme-svc", "scheme-svc-password-1")
	regPut(t, s, tok, api.RegisterInstanceRequest{URL: "http://127.0.0.1:1001"})
	regPut(t, s, tok, api.RegisterInstanceRequest{URL: "https://127.0.0.1:1002"})
	for q, want := range map[string]int{"": 2, "?scheme=https": 1, "?scheme=HTTP": 1, "?scheme=ftp": 0} {
		if got := regList(t, s, tok, q); len(got) != want {
			t.Errorf("list%s: %d instances, want %d", q, len(got), want)
		}
	}
}

// TestWireCreateUserUpstreamForm: the upstream client's CreateUser sends {"user": {...},
// "password", "roleIds"}; oo accepts it as well as its flat form.
func TestWireCreateUserUpstreamForm(t *testing.T) {
	s := regStart(t, -1)
	admin := s.AdminToken(t)
	body := map[string]any{
		"user":     map[string]string{"slug": "up-user", "name": "Upstream User"},
		"password": "up-user-password-1",
		"roleIds":  []string{api.RoleAdmin},
	}
	res := regCall(t, s, http.MethodPost, api.PathCreateUser, admin, body)
	if res.status/100 != 2 {
		t.Fatalf("upstream CreateUser: HTTP %d %s", res.status, res.body)
	}
	var out api.CreateUserResponse
	if err := json.Unmarshal(res.body, &out); err != nil || out.User.Slug != "up-user" || out.User.Name != "Upstream User" ||
		!slices.Contains(out.User.Roles, api.RoleAdmin) {
		t.Fatalf("created %s: %v", res.body, err)
	}
	s.Login(t, "up-user", "up-user-password-1")
}

// TestWireRegisterContactValue: the upstream RegisterRequest names the contact's handle
// "value"; it is kept as the handle.
func TestWireRegisterContactValue(t *testing.T) {
	s := regStart(t, -1)
	body := map[string]any{"slug": "contact-svc", "name": "C", "password": "contact-password-1",
		"contact": map[string]string{"id": "ops@example.com", "platform": "email", "value": "ops"}}
	var tok api.RegisterResponse
	if code := s.Do(t, http.MethodPost, api.PathRegister, "", body, &tok); code != http.StatusOK {
		t.Fatalf("register: HTTP %d", code)
	}
	res := regCall(t, s, http.MethodPost, api.PathUserByToken, tok.Token.Token, nil)
	var me api.ReadUserByTokenResponse
	if err := json.Unmarshal(res.body, &me); err != nil || len(me.User.Contacts) != 1 || me.User.Contacts[0].Handle != "ops" ||
		bytes.Contains(res.body, []byte(`"value"`)) {
		t.Fatalf("by-token: %s %v", res.body, err)
	}
}
