package httpapi_test

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/ooctl/oo/internal/fakeclock"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// userRsp is one raw HTTP exchange, kept raw so tests can check headers and exact JSON.
type userRsp struct {
	Status int
	Header http.Header
	Body   []byte
}

func userRaw(t *testing.T, s *servertest.Server, method, path, token, body string) userRsp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer rsp.Body.Close()
	raw, err := io.ReadAll(rsp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return userRsp{Status: rsp.StatusCode, Header: rsp.Header, Body: raw}
}

// userWantError checks a non-2xx answer: status, JSON content type and a non-empty message.
func userWantError(t *testing.T, name string, r userRsp, status int) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: HTTP %d, want %d; body %s", name, r.Status, status, r.Body)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", name, ct)
	}
	var e api.ErrorResponse
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error == "" {
		t.Errorf("%s: body %q is not {\"error\": ...}", name, r.Body)
	}
}

func userDecode(t *testing.T, r userRsp, v any) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q on HTTP %d", ct, r.Status)
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

// userStart runs a test server with the cheapest bcrypt cost: the default cost makes every
// register and login take seconds under the race detector.
func userStart(t *testing.T, mutate ...func(*server.Config)) *servertest.Server {
	t.Helper()
	fast := func(c *server.Config) { c.ProbeInterval, c.BcryptCost = -1, bcrypt.MinCost }
	return servertest.Start(t, append([]func(*server.Config){fast}, mutate...)...)
}

func TestUserRegisterLoginAndByToken(t *testing.T) {
	s := userStart(t)
	before := time.Now().Add(-time.Second)
	r := userRaw(t, s, http.MethodPost, api.PathRegister, "", `{"slug":"skeleton-svc","name":"Skeleton","password":"skeleton-pass"}`)
	if r.Status != http.StatusOK {
		t.Fatalf("register: HTTP %d %s", r.Status, r.Body)
	}
	var reg api.RegisterResponse
	userDecode(t, r, &reg)
	tok := reg.Token
	if !strings.HasPrefix(tok.ID, "tok_") || !strings.HasPrefix(tok.UserID, "usr_") || tok.Token == "" || !tok.Active {
		t.Errorf("token = %+v", tok)
	}
	if tok.CreatedAt.Before(before) || !tok.ExpiresAt.After(tok.CreatedAt) || tok.UpdatedAt.IsZero() {
		t.Errorf("token times: created %s updated %s expires %s", tok.CreatedAt, tok.UpdatedAt, tok.ExpiresAt)
	}

	var login api.LoginResponse
	if code := s.Do(t, http.MethodPost, api.PathLogin, "", api.LoginRequest{Slug: "skeleton-svc", Password: "skeleton-pass"}, &login); code != http.StatusOK {
		t.Fatalf("login: HTTP %d", code)
	}
	if login.Token.UserID != tok.UserID || login.Token.ID == tok.ID {
		t.Errorf("login token %+v vs register token %+v", login.Token, tok)
	}

	r = userRaw(t, s, http.MethodPost, api.PathUserByToken, login.Token.Token, "")
	if r.Status != http.StatusOK {
		t.Fatalf("by-token: HTTP %d %s", r.Status, r.Body)
	}
	var me api.ReadUserByTokenResponse
	userDecode(t, r, &me)
	if me.User.Slug != "skeleton-svc" || me.User.Name != "Skeleton" || me.User.ID != tok.UserID {
		t.Errorf("by-token user = %+v", me.User)
	}
	// Generated clients expect a list, not null, and never a password field.
	var raw map[string]json.RawMessage
	userDecode(t, r, &raw)
	if string(raw["organizations"]) != "[]" || string(raw["activeOrganizationId"]) != `""` {
		t.Errorf("by-token organizations=%s activeOrganizationId=%s", raw["organizations"], raw["activeOrganizationId"])
	}
	if strings.Contains(strings.ToLower(string(r.Body)), "password") {
		t.Errorf("by-token leaks a password field: %s", r.Body)
	}
}

func TestUserListUsersIsAdminOnly(t *testing.T) {
	s := userStart(t)
	alice := s.Register(t, "alice", "alice-password")
	s.Register(t, "bob", "bob-password")
	admin := s.AdminToken(t)

	r := userRaw(t, s, http.MethodPost, api.PathUsers, admin, "")
	if r.Status != http.StatusOK {
		t.Fatalf("admin list: HTTP %d %s", r.Status, r.Body)
	}
	var all api.ListUsersResponse
	userDecode(t, r, &all)
	if all.Count != 3 || len(all.Users) != 3 || all.Users[0].Slug != "admin" || all.Users[1].Slug != "alice" {
		t.Errorf("users = %+v", all)
	}
	if strings.Contains(strings.ToLower(string(r.Body)), "password") {
		t.Errorf("user list leaks a password field: %s", r.Body)
	}

	var limited api.ListUsersResponse
	if code := s.Do(t, http.MethodPost, api.PathUsers, admin, api.ListUsersRequest{Query: &api.ListUsersQuery{Limit: 1}}, &limited); code != http.StatusOK {
		t.Fatalf("limited list: HTTP %d", code)
	}
	if len(limited.Users) != 1 || limited.Count != 3 {
		t.Errorf("limit 1: %d users, count %d", len(limited.Users), limited.Count)
	}

	userWantError(t, "list as a plain user", userRaw(t, s, http.MethodPost, api.PathUsers, alice, ""), http.StatusForbidden)
	userWantError(t, "list without a token", userRaw(t, s, http.MethodPost, api.PathUsers, "", ""), http.StatusUnauthorized)
}

func TestUserClosedRegistrationAdminCreates(t *testing.T) {
	s := userStart(t, func(c *server.Config) { c.Registration = "closed" })
	userWantError(t, "register while closed", userRaw(t, s, http.MethodPost, api.PathRegister, "",
		`{"slug":"alice","name":"A","password":"alice-password"}`), http.StatusForbidden)

	admin := s.AdminToken(t)
	body := `{"slug":"alice","name":"Alice","password":"alice-password"}`
	r := userRaw(t, s, http.MethodPost, api.PathCreateUser, admin, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("admin create: HTTP %d %s", r.Status, r.Body)
	}
	var created api.CreateUserResponse
	userDecode(t, r, &created)
	if created.User.Slug != "alice" || !strings.HasPrefix(created.User.ID, "usr_") {
		t.Errorf("created = %+v", created.User)
	}
	alice := s.Login(t, "alice", "alice-password")
	userWantError(t, "create as a plain user", userRaw(t, s, http.MethodPost, api.PathCreateUser, alice,
		`{"slug":"bob","password":"bob-password"}`), http.StatusForbidden)
	userWantError(t, "create a taken slug", userRaw(t, s, http.MethodPost, api.PathCreateUser, admin, body), http.StatusConflict)
}

func TestUserChangePasswordRevokesOtherTokens(t *testing.T) {
	s := userStart(t)
	current := s.Register(t, "alice", "alice-password")
	other := s.Login(t, "alice", "alice-password")
	bob := s.Register(t, "bob", "bob-password")

	userWantError(t, "change someone else's password", userRaw(t, s, http.MethodPost, api.PathChangePassword, current,
		`{"slug":"bob","currentPassword":"alice-password","newPassword":"new-password-1"}`), http.StatusForbidden)
	userWantError(t, "wrong current password", userRaw(t, s, http.MethodPost, api.PathChangePassword, current,
		`{"currentPassword":"not-my-password","newPassword":"new-password-1"}`), http.StatusForbidden)
	userWantError(t, "short new password", userRaw(t, s, http.MethodPost, api.PathChangePassword, current,
		`{"currentPassword":"alice-password","newPassword":"short"}`), http.StatusBadRequest)

	r := userRaw(t, s, http.MethodPost, api.PathChangePassword, current,
		`{"slug":"alice","currentPassword":"alice-password","newPassword":"new-password-1"}`)
	if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != "{}" {
		t.Fatalf("change-password: HTTP %d %s", r.Status, r.Body)
	}
	if code := s.Do(t, http.MethodPost, api.PathUserByToken, current, nil, nil); code != http.StatusOK {
		t.Errorf("the token that changed the password: HTTP %d, want 200", code)
	}
	userWantError(t, "other token after password change", userRaw(t, s, http.MethodPost, api.PathUserByToken, other, ""), http.StatusUnauthorized)
	if code := s.Do(t, http.MethodPost, api.PathUserByToken, bob, nil, nil); code != http.StatusOK {
		t.Errorf("another user's token: HTTP %d, want 200", code)
	}
	userWantError(t, "login with the old password", userRaw(t, s, http.MethodPost, api.PathLogin, "",
		`{"slug":"alice","password":"alice-password"}`), http.StatusUnauthorized)
	s.Login(t, "alice", "new-password-1")
}

func TestUserRefreshRotatesToken(t *testing.T) {
	s := userStart(t)
	old := s.Register(t, "alice", "alice-password")
	var rsp api.RefreshTokenResponse
	if code := s.Do(t, http.MethodPost, api.PathRefreshToken, old, nil, &rsp); code != http.StatusOK {
		t.Fatalf("refresh: HTTP %d", code)
	}
	if rsp.Token.Token == "" || rsp.Token.Token == old || !rsp.Token.Active {
		t.Fatalf("refreshed token = %+v", rsp.Token)
	}
	if code := s.Do(t, http.MethodPost, api.PathUserByToken, rsp.Token.Token, nil, nil); code != http.StatusOK {
		t.Errorf("refreshed token: HTTP %d", code)
	}
	userWantError(t, "token after it was refreshed", userRaw(t, s, http.MethodPost, api.PathUserByToken, old, ""), http.StatusUnauthorized)
	userWantError(t, "refresh a refreshed token", userRaw(t, s, http.MethodPost, api.PathRefreshToken, old, ""), http.StatusUnauthorized)
}

func TestUserRevokeToken(t *testing.T) {
	s := userStart(t)
	tok := s.Register(t, "alice", "alice-password")
	keep := s.Login(t, "alice", "alice-password")
	r := userRaw(t, s, http.MethodDelete, api.PathToken, tok, "")
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("revoke: HTTP %d %q", r.Status, r.Body)
	}
	userWantError(t, "revoked token", userRaw(t, s, http.MethodPost, api.PathUserByToken, tok, ""), http.StatusUnauthorized)
	userWantError(t, "revoke again", userRaw(t, s, http.MethodDelete, api.PathToken, tok, ""), http.StatusUnauthorized)
	if code := s.Do(t, http.MethodPost, api.PathUserByToken, keep, nil, nil); code != http.StatusOK {
		t.Errorf("another token of the same user: HTTP %d", code)
	}
}

func TestUserErrorStatuses(t *testing.T) {
	s := userStart(t)
	alice := s.Register(t, "alice", "alice-password")
	huge := `{"slug":"` + strings.Repeat("a", 2<<20) + `"}`
	cases := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"malformed JSON", "POST", api.PathRegister, "", `{"slug":`, 400},
		{"wrong JSON type", "POST", api.PathRegister, "", `{"slug":42}`, 400},
		{"two JSON values", "POST", api.PathLogin, "", `{} {}`, 400},
		{"bad slug", "POST", api.PathRegister, "", `{"slug":"Bad_Slug","password":"password-1"}`, 400},
		{"reserved slug", "POST", api.PathRegister, "", `{"slug":"registry-svc","password":"password-1"}`, 400},
		{"short password", "POST", api.PathRegister, "", `{"slug":"carol","password":"short"}`, 400},
		{"empty register", "POST", api.PathRegister, "", ``, 400},
		{"unknown slug login", "POST", api.PathLogin, "", `{"slug":"nobody","password":"password-1"}`, 400},
		{"wrong password", "POST", api.PathLogin, "", `{"slug":"alice","password":"wrong-password"}`, 401},
		{"no token", "POST", api.PathUserByToken, "", ``, 401},
		{"garbage token", "POST", api.PathUserByToken, "garbage", ``, 401},
		{"not admin", "POST", api.PathUsers, alice, `{}`, 403},
		{"unknown endpoint", "GET", "/user-svc/nope", "", ``, 404},
		{"unknown reserved segment", "POST", "/registry-svc/nope/deeper", "", ``, 404},
		{"wrong method", "GET", api.PathRegister, "", ``, 405},
		{"wrong method on token", "POST", api.PathToken, alice, ``, 405},
		{"taken slug", "POST", api.PathRegister, "", `{"slug":"alice","password":"password-1"}`, 409},
		{"body over 1 MiB", "POST", api.PathRegister, "", huge, 413},
	}
	for _, c := range cases {
		r := userRaw(t, s, c.method, c.path, c.token, c.body)
		userWantError(t, c.name, r, c.want)
		if c.want == 405 && r.Header.Get("Allow") == "" {
			t.Errorf("%s: 405 without Allow", c.name)
		}
		if c.want == 401 && r.Header.Get("WWW-Authenticate") == "" && c.path != api.PathLogin {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
	}
}

// TestUserNoServerErrorForBadInput throws odd bodies at every user endpoint; whatever the
// status, it must be a client error in JSON, never a 500.
func TestUserNoServerErrorForBadInput(t *testing.T) {
	s := userStart(t)
	alice := s.Register(t, "alice", "alice-password")
	admin := s.AdminToken(t)
	bodies := []string{``, `null`, `[]`, `"x"`, `123`, `{`, `{"slug":null}`, `{"query":{"limit":"x"}}`,
		`{"query":{"limit":-5}}`, `{"query":null}`, `{"slug":"` + strings.Repeat("ä", 100) + `"}`,
		`{"password":"` + strings.Repeat("p", 1000) + `","slug":"zz"}`, `{"roles":["x"],"slug":"qq","password":"password-1"}`,
		`{"currentPassword":"` + strings.Repeat("p", 100) + `","newPassword":"new-password-1"}`, "\x00\xff"}
	paths := []string{api.PathRegister, api.PathLogin, api.PathUserByToken, api.PathUsers, api.PathCreateUser, api.PathChangePassword}
	for _, path := range paths {
		for _, tok := range []string{"", alice, admin} {
			for _, body := range bodies {
				r := userRaw(t, s, http.MethodPost, path, tok, body)
				if r.Status >= 500 {
					t.Errorf("POST %s %q: HTTP %d %s", path, body, r.Status, r.Body)
				}
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("POST %s %q: Content-Type %q", path, body, ct)
				}
			}
		}
	}
}

func TestUserForgedTokensAreRefused(t *testing.T) {
	s := userStart(t)
	good := s.Register(t, "alice", "alice-password")
	var c jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(good, &c); err != nil {
		t.Fatal(err)
	}
	c["ori"] = []string{api.RoleUser, api.RoleAdmin}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := jwt.NewWithClaims(jwt.SigningMethodRS256, c).SignedString(other)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"alg none": none, "another key": otherKey, "not a JWT": "abc.def.ghi"} {
		userWantError(t, name, userRaw(t, s, http.MethodPost, api.PathUsers, tok, ""), http.StatusUnauthorized)
	}
	if code := s.Do(t, http.MethodPost, api.PathUserByToken, good, nil, nil); code != http.StatusOK {
		t.Errorf("genuine token: HTTP %d", code)
	}
}

// TestUserExpiredTokenIsRefused: a token works up to its expiry and is a 401 saying so from
// then on, by the server's clock (a fake one: the test moves time instead of waiting).
func TestUserExpiredTokenIsRefused(t *testing.T) {
	clk := fakeclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := userStart(t, func(c *server.Config) { c.TokenTTL, c.Now = time.Hour, clk.Now })
	tok := s.Register(t, "alice", "alice-password")
	clk.Add(time.Hour - time.Second)
	if r := userRaw(t, s, http.MethodPost, api.PathUserByToken, tok, ""); r.Status != http.StatusOK {
		t.Fatalf("a second before expiry: HTTP %d %s", r.Status, r.Body)
	}
	clk.Add(time.Second) // exp is exclusive
	r := userRaw(t, s, http.MethodPost, api.PathUserByToken, tok, "")
	userWantError(t, "expired token", r, http.StatusUnauthorized)
	if !strings.Contains(string(r.Body), "expired") {
		t.Errorf("expired token message: %s", r.Body)
	}
}

func TestUserTokenVerifiesOfflineWithPublicKey(t *testing.T) {
	s := userStart(t)
	tok := s.Register(t, "skeleton-svc", "skeleton-pass")

	r := userRaw(t, s, http.MethodGet, api.PathPublicKey, "", "")
	var pk api.PublicKeyResponse
	userDecode(t, r, &pk)
	block, _ := pem.Decode([]byte(pk.PublicKey))
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("public key is not a PKIX PEM: %q", pk.PublicKey)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok || rsaPub.N.BitLen() != 2048 {
		t.Fatalf("public key is %T", pub)
	}

	// What a service does offline: verify with the PEM only, RS256 only.
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return rsaPub, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("offline verification: %v", err)
	}
	if claims["olu"] != "skeleton-svc" || !strings.HasPrefix(claims["oui"].(string), "usr_") ||
		!strings.HasPrefix(claims["jti"].(string), "tok_") || claims["iat"] == nil {
		t.Errorf("claims = %v", claims)
	}
	roles, _ := claims["ori"].([]any)
	if len(roles) != 1 || roles[0] != api.RoleUser {
		t.Errorf("ori = %v", claims["ori"])
	}
}

// Decoding errors are worded for a client in any language: no Go type names.
func TestUserJSONErrorsSpeakJSON(t *testing.T) {
	s := userStart(t)
	for body, want := range map[string]string{
		`[]`:            "expected a JSON object, got an array",
		`"x"`:           "expected a JSON object, got a string",
		`{"slug":42}`:   `field "slug" must not be a number`,
		`{"slug":`:      "ends in the middle of a JSON value",
		`{"slug" "x"}`:  "invalid character",
		`{"slug":true}`: `field "slug" must not be a boolean`,
	} {
		r := userRaw(t, s, http.MethodPost, api.PathLogin, "", body)
		userWantError(t, body, r, http.StatusBadRequest)
		var e api.ErrorResponse
		_ = json.Unmarshal(r.Body, &e)
		if !strings.Contains(e.Error, want) || strings.Contains(e.Error, "Go value") || strings.Contains(e.Error, "api.") {
			t.Errorf("%s: %q, want it to say %q", body, e.Error, want)
		}
	}
}

// Paths under the API's segments that are not canonical get a JSON 404, not ServeMux's HTML
// redirect (which would send /user-svc/../x out to the proxy).
func TestUserNonCanonicalPathsAreJSON404(t *testing.T) {
	s := userStart(t)
	for _, p := range []string{"/user-svc/./public-key", "/registry-svc//instances", "/user-svc/../some-svc/x"} {
		req, err := http.NewRequest(http.MethodGet, s.URL+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = p // sent exactly as written
		rsp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != http.StatusNotFound || rsp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s: HTTP %d %q %s", p, rsp.StatusCode, rsp.Header.Get("Content-Type"), body)
		}
	}
}

// A client that trickles an API body is cut off after the body timeout instead of holding the
// connection, with a 408 (not a 400 calling its JSON malformed: issue 11); the store is
// untouched.
func TestUserSlowBodyIsCutOff(t *testing.T) {
	s := userStart(t, func(c *server.Config) { c.APIBodyTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"slug\":", api.PathRegister)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	rsp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server still waits for the body after 10 s")
	} else if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusRequestTimeout || rsp.Header.Get("Content-Type") != "application/json" || !rsp.Close {
		t.Fatalf("HTTP %d %q close=%v %s, want a JSON 408 closing the connection", rsp.StatusCode, rsp.Header.Get("Content-Type"), rsp.Close, body)
	}
	if r := userRaw(t, s, http.MethodPost, api.PathLogin, "", `{"slug":"admin","password":"x"}`); r.Status != http.StatusUnauthorized {
		t.Fatalf("server unusable afterwards: HTTP %d", r.Status)
	}
}
