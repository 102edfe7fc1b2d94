// Package docs carries the documents the binary serves: the OpenAPI description of the API is
// kept here, beside the prose reference, and embedded so the server and the tests read the
// same bytes.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml, the OpenAPI 3.1 description of the HTTP API.
//
//go:embed openapi.yaml
var OpenAPI []byte
