// Package proxy routes SERVER/<slug>/<rest> to a healthy instance owned by <slug>.
package proxy

import (
	"log/slog"
	"net/http"

	"github.com/ooctl/oo/server/registry"
)

type Options struct {
	Logger *slog.Logger
}

// New STUB: to be implemented.
func New(reg *registry.Registry, opts Options) http.Handler {
	return http.NotFoundHandler()
}
