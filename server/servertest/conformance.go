package servertest

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ooctl/oo/pkg/api"
)

// The conformance check: every answer of the API that a test provokes is validated against the
// JSON schema of its endpoint (testdata/schemas, JSON Schema 2020-12 so an OpenAPI 3.1 document
// can reuse them). The schemas encode what upstream clients require; the strict ones refuse
// unknown keys exactly where the upstream client does.

//go:embed testdata/schemas/*.json
var schemaFiles embed.FS

// route maps an endpoint to the schema of its 2xx body; ooSchema is the body's schema when the
// client asked for oo's extensions (empty: the same schema).
type route struct {
	method, pattern  string // pattern segments in {} match any one segment
	status           int
	schema, ooSchema string
}

var routes = []route{
	{http.MethodPost, api.PathRegister, http.StatusOK, "token-response.json", ""},
	{http.MethodPost, api.PathLogin, http.StatusOK, "token-response.json", ""},
	{http.MethodPost, api.PathRefreshToken, http.StatusOK, "token-response.json", ""},
	{http.MethodGet, api.PathPublicKey, http.StatusOK, "public-key-response.json", ""},
	{http.MethodPost, api.PathUserByToken, http.StatusOK, "read-user-by-token-response.json", ""},
	{http.MethodPost, api.PathUsers, http.StatusOK, "list-users-response.json", ""},
	{http.MethodPost, api.PathCreateUser, http.StatusCreated, "create-user-response.json", ""},
	{http.MethodPost, api.PathChangePassword, http.StatusOK, "empty-response.json", ""},
	{http.MethodDelete, api.PathToken, http.StatusNoContent, "", ""},
	{http.MethodDelete, api.PathUsers + "/{id}", http.StatusNoContent, "", ""},
	{http.MethodPut, api.PathInstance, http.StatusCreated, "register-instance-response.json", "oo-register-instance-response.json"},
	{http.MethodGet, api.PathInstances, http.StatusOK, "list-instances-response.json", "oo-list-instances-response.json"},
	{http.MethodGet, api.PathInstance + "/{id}", http.StatusOK, "instance-response.json", "oo-instance-response.json"},
	{http.MethodDelete, api.PathInstance + "/{id}", http.StatusNoContent, "", ""},
	{http.MethodPut, api.PathInstance + "/{id}" + api.HeartbeatSuffix, http.StatusOK, "instance-response.json", "oo-instance-response.json"},
	{http.MethodGet, api.PathHealthz, http.StatusOK, "healthz-response.json", ""},
}

const errorSchema = "error-response.json"

func (rt route) matches(method, path string) bool {
	if method != rt.method {
		return false
	}
	want, got := strings.Split(rt.pattern, "/"), strings.Split(path, "/")
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if want[i] != got[i] && !(strings.HasPrefix(want[i], "{") && got[i] != "") {
			return false
		}
	}
	return true
}

var (
	compileOnce sync.Once
	compiled    map[string]*jsonschema.Schema
	compileErr  error
)

// schemas compiles every schema file once per test binary.
func schemas() (map[string]*jsonschema.Schema, error) {
	compileOnce.Do(func() {
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		c.AssertFormat()
		names, err := fs.Glob(schemaFiles, "testdata/schemas/*.json")
		if err != nil {
			compileErr = err
			return
		}
		for _, n := range names {
			raw, _ := schemaFiles.ReadFile(n)
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			if err != nil {
				compileErr = fmt.Errorf("%s: %w", n, err)
				return
			}
			if err := c.AddResource(schemaURL(n), doc); err != nil {
				compileErr = err
				return
			}
		}
		compiled = map[string]*jsonschema.Schema{}
		for _, n := range names {
			s, err := c.Compile(schemaURL(n))
			if err != nil {
				compileErr = err
				return
			}
			compiled[strings.TrimPrefix(n, "testdata/schemas/")] = s
		}
	})
	return compiled, compileErr
}

func schemaURL(name string) string {
	return "file:///oo/schemas/" + strings.TrimPrefix(name, "testdata/schemas/")
}

// ValidateBody checks one answer of the API against the schema of its endpoint: a non-2xx
// answer must be an error object, a 204 must be empty, and a 2xx body must match the
// endpoint's schema (the extras one when extras is true). Endpoints without a schema pass.
func ValidateBody(method, path string, extras bool, status int, body []byte) error {
	all, err := schemas()
	if err != nil {
		return fmt.Errorf("compiling the schemas: %w", err)
	}
	name := ""
	if status/100 != 2 {
		name = errorSchema
	} else {
		for _, rt := range routes {
			if !rt.matches(method, path) {
				continue
			}
			if status != rt.status {
				return fmt.Errorf("%s %s answered %d; the contract says %d", method, path, status, rt.status)
			}
			name = rt.schema
			if extras && rt.ooSchema != "" {
				name = rt.ooSchema
			}
			break
		}
		if status == http.StatusNoContent {
			if len(bytes.TrimSpace(body)) != 0 {
				return fmt.Errorf("%s %s: 204 with a body %q", method, path, body)
			}
			return nil
		}
	}
	if name == "" {
		return nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s: HTTP %d body is not JSON: %v: %q", method, path, status, err, body)
	}
	if err := all[name].Validate(inst); err != nil {
		// "false schema" at a key means the model has no such key and its client refuses it.
		return fmt.Errorf("%s %s: HTTP %d body does not match %s (\"false schema\" at a key: the upstream model has no such key):\n%v\nbody: %s", method, path, status, name, err, body)
	}
	return nil
}

// recorder validates every API answer the server gives during a test, and reports the
// failures when the test ends.
type recorder struct {
	t    testing.TB
	mu   sync.Mutex
	errs []error
}

// maxRecorded bounds what is kept of one body; API answers are small.
const maxRecorded = 4 << 20

func (rec *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Proxied requests are the services' business, and need Flush and Hijack untouched.
		if _, reserved := api.FirstSegment(r.URL.Path); !reserved {
			next.ServeHTTP(w, r)
			return
		}
		cw := &capture{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		if cw.status == 0 {
			cw.status = http.StatusOK
		}
		extras := api.PrefersExtras(r.Header.Values(api.HeaderPrefer))
		if err := ValidateBody(r.Method, r.URL.Path, extras, cw.status, cw.body.Bytes()); err != nil {
			rec.mu.Lock()
			rec.errs = append(rec.errs, err)
			rec.mu.Unlock()
		}
	})
}

func (rec *recorder) report() {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, err := range rec.errs {
		rec.t.Errorf("wire conformance (server/servertest/testdata/schemas): %v", err)
	}
}

// capture keeps a copy of the status and body while passing them on.
type capture struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *capture) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *capture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.body.Len()+len(p) <= maxRecorded {
		c.body.Write(p)
	}
	return c.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the real writer (read deadlines, flushes).
func (c *capture) Unwrap() http.ResponseWriter { return c.ResponseWriter }
