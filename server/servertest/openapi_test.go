package servertest

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/ooctl/oo/docs"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/httpapi"
)

// TestOpenAPIDocumentIsValid: docs/openapi.yaml is a valid OpenAPI 3.1 document, so client
// generators can read it.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	if err := ValidateDocument(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenAPIDescribesEveryRoute: the document's operations are exactly the routes the server
// registers, method for method.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	ops, err := Operations()
	if err != nil {
		t.Fatal(err)
	}
	routes := httpapi.Routes()
	if len(routes) < 15 {
		t.Fatalf("httpapi.Routes() lists only %d routes: %q", len(routes), routes)
	}
	for _, d := range routeDrift(routes, ops) {
		t.Error(d)
	}
}

// routeDrift lists the routes the document lacks and the operations the server lacks.
func routeDrift(routes []string, ops []Operation) []string {
	var drift []string
	var described []string
	for _, op := range ops {
		described = append(described, op.String())
		if !slices.Contains(routes, op.String()) {
			drift = append(drift, "docs/openapi.yaml describes "+op.String()+", which the server does not route")
		}
	}
	for _, r := range routes {
		if !slices.Contains(described, r) {
			drift = append(drift, "the server routes "+r+", which docs/openapi.yaml does not describe")
		}
	}
	return drift
}

// TestRouteDriftIsCaught: the comparison fails both ways, and on a method alone.
func TestRouteDriftIsCaught(t *testing.T) {
	ops := []Operation{{"GET", "/a"}, {"PUT", "/b/{id}"}}
	for name, routes := range map[string][]string{
		"route missing from the document": {"GET /a", "PUT /b/{id}", "DELETE /b/{id}"},
		"operation the server lacks":      {"GET /a"},
		"other method":                    {"GET /a", "POST /b/{id}"},
	} {
		if len(routeDrift(routes, ops)) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
	if d := routeDrift([]string{"PUT /b/{id}", "GET /a"}, ops); len(d) != 0 {
		t.Errorf("the same routes: %q", d)
	}
}

// TestServerServesOpenAPI: the server answers with the document itself.
func TestServerServesOpenAPI(t *testing.T) {
	srv := Start(t)
	rsp, err := http.Get(srv.URL + api.PathOpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	body, _ := io.ReadAll(rsp.Body)
	if rsp.StatusCode != http.StatusOK || rsp.Header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("HTTP %d, Content-Type %q", rsp.StatusCode, rsp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, docs.OpenAPI) || !bytes.HasPrefix(body, []byte("openapi: 3.1")) {
		t.Fatalf("served %d bytes that are not docs/openapi.yaml", len(body))
	}
}
