// Package ui is the read-only dashboard the server serves under /ui/: one HTML page, one
// stylesheet and one script, embedded in the binary. No build step and nothing fetched from
// elsewhere: the page talks only to this server's API (login, instances, the live top stream)
// with the token the user signs in for.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

// Prefix is the path the dashboard lives under; Path without the slash redirects to it.
const (
	Path   = "/ui"
	Prefix = Path + "/"
)

// CSP allows the page nothing but this server: its own script and stylesheet (no inline code,
// no eval), fetches back to the API, and no framing, so an injected string can neither run nor
// send data elsewhere.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed static
var static embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string // a quoted hash of body
	// immutable: the page links this file with ?v=<hash>, so a URL with that version can be
	// cached for good and a new build is a new URL.
	immutable bool
}

// files maps the name under Prefix ("" is the page) to its asset.
var files = load()

func load() map[string]*asset {
	read := func(name string) []byte {
		b, err := static.ReadFile("static/" + name)
		if err != nil {
			panic(err) // embedded at build time: cannot happen
		}
		return b
	}
	out := map[string]*asset{}
	page := read("index.html")
	for name, ct := range map[string]string{
		"app.css":     "text/css; charset=utf-8",
		"app.js":      "text/javascript; charset=utf-8",
		"favicon.svg": "image/svg+xml",
	} {
		a := &asset{body: read(name), contentType: ct, immutable: true}
		a.etag = hash(a.body)
		out[name] = a
		// The page names each file once, as `"name"`; it is served with the version appended.
		page = bytes.Replace(page, []byte(`"`+name+`"`), []byte(`"`+name+`?v=`+strings.Trim(a.etag, `"`)+`"`), 1)
	}
	out[""] = &asset{body: page, contentType: "text/html; charset=utf-8", etag: hash(page)}
	return out
}

func hash(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// Handler serves Path and everything under Prefix. Only GET and HEAD; an unknown file is a
// JSON 404 like the rest of the API.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path+"; allowed: GET, HEAD")
		return
	}
	if r.URL.Path == Path {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	a := files[name]
	if !ok || a == nil {
		writeError(w, http.StatusNotFound, "no such file: "+r.URL.Path+" (the dashboard is at "+Prefix+")")
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("ETag", a.etag)
	if a.immutable && r.URL.Query().Get("v") == strings.Trim(a.etag, `"`) {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// The page (and an unversioned asset) is checked on every load: a server upgrade
		// shows at once, and an unchanged file costs a 304.
		h.Set("Cache-Control", "no-cache")
	}
	// ServeContent answers If-None-Match against the ETag set above (304), HEAD and ranges.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: msg})
}
