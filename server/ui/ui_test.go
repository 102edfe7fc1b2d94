package ui_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/ui"
)

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// TestServesPageAndAssets: each file with its media type, the strict CSP and an ETag; the page
// links every asset with its version, and that versioned URL may be cached for good.
func TestServesPageAndAssets(t *testing.T) {
	h := ui.Handler()
	rsp := get(t, h, http.MethodGet, ui.Prefix)
	page, _ := io.ReadAll(rsp.Body)
	if rsp.StatusCode != http.StatusOK || rsp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("page: HTTP %d %q", rsp.StatusCode, rsp.Header.Get("Content-Type"))
	}
	if csp := rsp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self';") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	if rsp.Header.Get("Cache-Control") != "no-cache" || rsp.Header.Get("ETag") == "" {
		t.Errorf("page caching: Cache-Control %q, ETag %q", rsp.Header.Get("Cache-Control"), rsp.Header.Get("ETag"))
	}
	for name, ct := range map[string]string{
		"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8", "favicon.svg": "image/svg+xml",
	} {
		m := regexp.MustCompile(`"` + regexp.QuoteMeta(name) + `\?v=([0-9a-f]{16})"`).FindSubmatch(page)
		if m == nil {
			t.Errorf("the page does not link %s with a version:\n%s", name, page)
			continue
		}
		rsp := get(t, h, http.MethodGet, ui.Prefix+name+"?v="+string(m[1]))
		body, _ := io.ReadAll(rsp.Body)
		if rsp.StatusCode != http.StatusOK || rsp.Header.Get("Content-Type") != ct || len(body) == 0 {
			t.Errorf("%s: HTTP %d %q, %d bytes", name, rsp.StatusCode, rsp.Header.Get("Content-Type"), len(body))
		}
		if cc := rsp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s with its version: Cache-Control %q", name, cc)
		}
		if rsp.Header.Get("ETag") != `"`+string(m[1])+`"` {
			t.Errorf("%s: ETag %q, version %s", name, rsp.Header.Get("ETag"), m[1])
		}
		if cc := get(t, h, http.MethodGet, ui.Prefix+name+"?v=old").Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s with another version: Cache-Control %q", name, cc)
		}
	}
}

// TestConditionalGet: a client holding the current ETag gets 304 and no body.
func TestConditionalGet(t *testing.T) {
	h := ui.Handler()
	etag := get(t, h, http.MethodGet, ui.Prefix+"app.js").Header.Get("ETag")
	rsp := get(t, h, http.MethodGet, ui.Prefix+"app.js", "If-None-Match", etag)
	body, _ := io.ReadAll(rsp.Body)
	if rsp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Fatalf("If-None-Match %s: HTTP %d, %d bytes", etag, rsp.StatusCode, len(body))
	}
	if rsp := get(t, h, http.MethodGet, ui.Prefix+"app.js", "If-None-Match", `"stale"`); rsp.StatusCode != http.StatusOK {
		t.Fatalf("stale ETag: HTTP %d", rsp.StatusCode)
	}
}

// TestRedirectAndErrors: /ui goes to /ui/; an unknown file is a JSON 404 and a write a JSON 405.
func TestRedirectAndErrors(t *testing.T) {
	h := ui.Handler()
	if rsp := get(t, h, http.MethodGet, ui.Path); rsp.StatusCode != http.StatusMovedPermanently || rsp.Header.Get("Location") != ui.Prefix {
		t.Errorf("%s: HTTP %d to %q", ui.Path, rsp.StatusCode, rsp.Header.Get("Location"))
	}
	for _, c := range []struct {
		method, target string
		status         int
	}{
		{http.MethodGet, ui.Prefix + "nope.js", http.StatusNotFound},
		{http.MethodGet, ui.Prefix + "static/app.js", http.StatusNotFound},
		{http.MethodPost, ui.Prefix, http.StatusMethodNotAllowed},
	} {
		rsp := get(t, h, c.method, c.target)
		var e api.ErrorResponse
		if err := json.NewDecoder(rsp.Body).Decode(&e); err != nil || rsp.StatusCode != c.status || e.Error == "" ||
			rsp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: HTTP %d %q, error %q (%v)", c.method, c.target, rsp.StatusCode, rsp.Header.Get("Content-Type"), e.Error, err)
		}
	}
	if rsp := get(t, h, http.MethodHead, ui.Prefix); rsp.StatusCode != http.StatusOK {
		t.Errorf("HEAD: HTTP %d", rsp.StatusCode)
	}
}

// TestNothingFromElsewhere: the files load nothing from another origin (no CDN, no fonts), and
// the script never builds HTML from strings.
func TestNothingFromElsewhere(t *testing.T) {
	err := filepath.WalkDir("static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s := strings.ReplaceAll(string(b), `xmlns="http://www.w3.org/2000/svg"`, "")
		if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindString(s); m != "" {
			t.Errorf("%s refers to %q", path, m)
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "document.write", "@import", "style="} {
			if strings.Contains(s, bad) {
				t.Errorf("%s uses %s", path, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
