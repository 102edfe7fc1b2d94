package servertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	yaml "go.yaml.in/yaml/v3"

	"github.com/ooctl/oo/docs"
	"github.com/ooctl/oo/pkg/api"
)

// The conformance check: every answer of the API that a test provokes is validated against the
// operation docs/openapi.yaml declares for it (its status must be declared, its body must match
// that status's schema). The document's schemas encode what upstream clients require: the
// strict ones refuse unknown keys exactly where the upstream client does.
//
// The answers to "Prefer: oo-extras" are validated against a view of the same document in which
// every media type with an x-oo-extras schema uses that schema instead.

// Operation is one operation of the OpenAPI document.
type Operation struct {
	Method string // upper case, as on the wire
	Path   string // the template, segments in {} match any one non-empty segment
}

func (op Operation) String() string { return op.Method + " " + op.Path }

func (op Operation) matchesPath(path string) bool {
	want, got := strings.Split(op.Path, "/"), strings.Split(path, "/")
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

// contract is the parsed document, built once per test binary.
type contract struct {
	ops           []Operation
	plain, extras validator.Validator
	doc           validator.Validator // over the document as written, for ValidateDocument
	errorSchema   *base.Schema
	schemas       schema_validation.SchemaValidator
	mu            sync.Mutex // the validators keep caches; answers arrive concurrently
}

var (
	contractOnce sync.Once
	theContract  *contract
	contractErr  error
)

func loadContract() (*contract, error) {
	contractOnce.Do(func() { theContract, contractErr = buildContract(docs.OpenAPI) })
	return theContract, contractErr
}

func buildContract(spec []byte) (*contract, error) {
	c := &contract{schemas: schema_validation.NewSchemaValidator(config.WithFormatAssertions())}
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, fmt.Errorf("docs/openapi.yaml: %w", err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("docs/openapi.yaml: %w", err)
	}
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			c.ops = append(c.ops, Operation{Method: strings.ToUpper(method), Path: path})
		}
	}
	if s := model.Model.Components.Schemas.GetOrZero("ErrorResponse"); s != nil {
		c.errorSchema = s.Schema()
	}
	if c.errorSchema == nil {
		return nil, fmt.Errorf("docs/openapi.yaml: no components.schemas.ErrorResponse")
	}
	if c.plain, err = newValidator(spec); err != nil {
		return nil, err
	}
	c.doc = c.plain
	view, err := extrasView(spec)
	if err != nil {
		return nil, err
	}
	if c.extras, err = newValidator(view); err != nil {
		return nil, fmt.Errorf("the oo-extras view: %w", err)
	}
	return c, nil
}

func newValidator(spec []byte) (validator.Validator, error) {
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, err
	}
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		return nil, fmt.Errorf("building the validator: %v", errs)
	}
	return v, nil
}

// extrasView returns spec with every media type's schema replaced by its x-oo-extras schema.
func extrasView(spec []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(spec, &root); err != nil {
		return nil, err
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			var schema, extra *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				switch n.Content[i].Value {
				case "schema":
					schema = n.Content[i+1]
				case "x-oo-extras":
					extra = n.Content[i+1]
				}
			}
			if schema != nil && extra != nil {
				*schema = *extra
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	return yaml.Marshal(&root)
}

// Operations lists the operations of docs/openapi.yaml.
func Operations() ([]Operation, error) {
	c, err := loadContract()
	if err != nil {
		return nil, err
	}
	return slices.Clone(c.ops), nil
}

// ValidateDocument checks docs/openapi.yaml against the OpenAPI 3.1 specification's schema.
func ValidateDocument() error {
	c, err := loadContract()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok, errs := c.doc.ValidateDocument(); !ok {
		return fmt.Errorf("docs/openapi.yaml is not a valid OpenAPI document:\n%s", describe(errs))
	}
	return nil
}

// ValidateBody checks one JSON answer of the API against docs/openapi.yaml; see ValidateAnswer.
func ValidateBody(method, path string, extras bool, status int, body []byte) error {
	h := http.Header{}
	if len(body) > 0 {
		h.Set("Content-Type", "application/json")
	}
	return ValidateAnswer(method, path, extras, status, h, body)
}

// ValidateAnswer checks one answer of the API against docs/openapi.yaml: the operation must
// declare its status and the body must match that response's schema (the x-oo-extras one when
// extras is true); a 204 must be empty. A request that names no operation must have been
// answered 404, or 405 when its path has other methods, with an error object.
func ValidateAnswer(method, path string, extras bool, status int, header http.Header, body []byte) error {
	c, err := loadContract()
	if err != nil {
		return err
	}
	if strings.Contains(header.Get("Content-Type"), "json") && !json.Valid(body) {
		return fmt.Errorf("%s %s: HTTP %d body is not JSON: %q", method, path, status, body)
	}
	var pathKnown, opKnown bool
	for _, op := range c.ops {
		if op.matchesPath(path) {
			pathKnown = true
			opKnown = opKnown || op.Method == method
		}
	}
	if !opKnown {
		return c.validateFallback(method, path, pathKnown, status, body)
	}
	if status == http.StatusNoContent && len(bytes.TrimSpace(body)) != 0 {
		return fmt.Errorf("%s %s: 204 with a body %q", method, path, body)
	}
	req, err := http.NewRequest(method, "http://127.0.0.1"+path, nil)
	if err != nil {
		return err
	}
	rsp := &http.Response{StatusCode: status, Header: header.Clone(), Body: io.NopCloser(bytes.NewReader(body)), Request: req}
	v, view := c.plain, "docs/openapi.yaml"
	if extras {
		v, view = c.extras, "docs/openapi.yaml (x-oo-extras)"
	}
	c.mu.Lock()
	ok, errs := v.ValidateHttpResponse(req, rsp)
	c.mu.Unlock()
	if !ok {
		// "false" at a key of an instance means the upstream model has no such key and its
		// client refuses it.
		return fmt.Errorf("%s %s: HTTP %d does not match %s:\n%s\nbody: %s", method, path, status, view, describe(errs), body)
	}
	return nil
}

// validateFallback holds the router's answers to requests no operation matches.
func (c *contract) validateFallback(method, path string, pathKnown bool, status int, body []byte) error {
	want := http.StatusNotFound
	if pathKnown {
		want = http.StatusMethodNotAllowed
	}
	if status != want {
		return fmt.Errorf("%s %s: no such operation in docs/openapi.yaml, yet answered %d (want %d with an error object)", method, path, status, want)
	}
	c.mu.Lock()
	ok, errs := c.schemas.ValidateSchemaBytes(c.errorSchema, body)
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s %s: HTTP %d body does not match ErrorResponse (the error key):\n%s\nbody: %s", method, path, status, describe(errs), body)
	}
	return nil
}

func describe(errs []*errors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  %s: %s\n", e.Message, e.Reason)
		for _, f := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "    at %s (%s): %s\n", f.FieldPath, f.KeywordLocation, f.Reason)
		}
	}
	return b.String()
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
		// Matched as sent, as the router does: "/user-svc%2flogin" is not the login route.
		if err := ValidateAnswer(r.Method, r.URL.EscapedPath(), extras, cw.status, cw.Header(), cw.body.Bytes()); err != nil {
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
		rec.t.Errorf("wire conformance (docs/openapi.yaml): %v", err)
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
