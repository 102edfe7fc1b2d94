package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/httpapi"
	"github.com/ooctl/oo/server/registry"
	"github.com/ooctl/oo/server/store/bolt"
	"github.com/ooctl/oo/server/ui"
	"github.com/ooctl/oo/server/user"
)

// fuzzAPI is the real API (user service and registry on a bbolt file, probing off) with a proxy
// that only records that it was reached: which side answers is what the dispatch fuzz checks.
func fuzzAPI(f *testing.F) (http.Handler, *bool) {
	f.Helper()
	st, err := bolt.Open(filepath.Join(f.TempDir(), "oo.db"), bolt.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	quiet := slog.New(slog.DiscardHandler)
	users, err := user.New(st, user.Options{TokenTTL: time.Hour, AdminPassword: "admin-password-for-fuzz",
		BcryptCost: bcrypt.MinCost, Notice: io.Discard, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	reg, err := registry.New(st, registry.Options{ProbeInterval: -1, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { reg.Close() })
	proxied := new(bool)
	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*proxied = true
		w.WriteHeader(http.StatusTeapot)
	})
	a := &httpapi.API{Users: users, Registry: reg, Proxy: proxy, Log: quiet}
	return a.Handler(), proxied
}

// FuzzRootDispatch sends any request line net/http accepts to the root handler and checks the
// split between the API and the proxy: a request whose first path segment is reserved is never
// proxied (so no registered service can be reached under, or stand in for, user-svc,
// registry-svc, ...), the proxy routes to no slug but the segment the dispatch decided on, and
// whatever the API answers is JSON, never a redirect and never a 500 (the dashboard under /ui/
// answers its files in their own media types, and redirects /ui to /ui/).
func FuzzRootDispatch(f *testing.F) {
	h, proxied := fuzzAPI(f)
	f.Fuzz(func(t *testing.T, method, target string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: oo.test\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http answers 400 itself; no handler of ours runs
		}
		r.RemoteAddr = "192.0.2.1:4000"
		*proxied = false
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		p := r.URL.Path
		seg, reserved := api.FirstSegment(p)
		if *proxied {
			if reserved || p == "/" {
				t.Fatalf("%s %q (path %q): reserved segment %q reached the proxy", method, target, p, seg)
			}
			// The proxy routes on the segment as sent: it may differ from the decoded one the
			// dispatch judged only by holding an escape, which no slug can (so it routes
			// nowhere); a slug it can route to is the decoded segment itself.
			if slug := registry.SlugOf(r.URL); slug != seg && api.CheckSlug(slug) == nil {
				t.Fatalf("%s %q: dispatched on %q but the proxy routes to the slug %q", method, target, seg, slug)
			}
			// A backend that decodes the forwarded (escaped) path must not see a reserved
			// first segment either.
			es, _ := api.FirstSegment(r.URL.EscapedPath())
			if dec, err := url.PathUnescape(es); err == nil && api.ReservedSlugs[dec] {
				t.Fatalf("%s %q: escaped first segment %q decodes to reserved %q", method, target, es, dec)
			}
			return
		}
		if !reserved && p != "/" {
			t.Fatalf("%s %q (path %q): unreserved segment %q answered by the API (HTTP %d)", method, target, p, seg, w.Code)
		}
		if seg == "ui" && (w.Code == http.StatusOK || w.Code == http.StatusMovedPermanently && p == ui.Path) {
			return // the dashboard's own files in their own types, and its one redirect: /ui to /ui/
		}
		if w.Code >= 300 && w.Code < 400 || w.Code >= 500 {
			t.Fatalf("%s %q: API answered HTTP %d %s", method, target, w.Code, w.Body.String())
		}
		if method == http.MethodHead {
			return
		}
		if ct, _, _ := mime.ParseMediaType(w.Header().Get("Content-Type")); ct != "application/json" {
			t.Fatalf("%s %q: API answered HTTP %d with Content-Type %q: %q", method, target, w.Code, ct, w.Body.String())
		}
		if w.Code >= 400 {
			var e api.ErrorResponse
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%s %q: HTTP %d body %q is not {\"error\": ...}", method, target, w.Code, w.Body.String())
			}
		}
	})
}

// decodeTargets are the request bodies of every API endpoint that reads one.
var decodeTargets = []func() any{
	func() any { return new(api.RegisterRequest) },
	func() any { return new(api.LoginRequest) },
	func() any { return new(api.ListUsersRequest) },
	func() any { return new(api.CreateUserRequest) },
	func() any { return new(api.ChangePasswordRequest) },
	func() any { return new(api.RegisterInstanceRequest) },
	func() any { return new(api.HeartbeatRequest) },
}

// FuzzDecode feeds any body to the decoder of every request type. Decode must agree with
// encoding/json on what is one valid JSON document of the right shape (a blank body counts as
// {}), produce the same value, and refuse the rest with a 400 that says what is wrong.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, mk := range decodeTargets {
			got := mk()
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			err := httpapi.Decode(httptest.NewRecorder(), r, got)

			want := mk()
			blank := len(bytes.Trim(body, " \t\r\n")) == 0 // JSON's whitespace, not Unicode's
			var werr error
			if !blank {
				werr = json.Unmarshal(body, want)
			}
			if (err == nil) != (werr == nil) {
				t.Fatalf("%T: Decode(%q) = %v, but encoding/json says %v", got, body, err, werr)
			}
			if err != nil {
				var ae *apierr.Error
				if !errors.As(err, &ae) || apierr.Status(err) != http.StatusBadRequest || !strings.HasPrefix(err.Error(), "malformed JSON body: ") {
					t.Fatalf("%T: Decode(%q) = %v (HTTP %d), want a 400 naming the problem", got, body, err, apierr.Status(err))
				}
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%T: Decode(%q) = %+v, encoding/json gives %+v", got, body, got, want)
			}
		}
	})
}
