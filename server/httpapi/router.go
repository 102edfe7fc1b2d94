package httpapi

import (
	"net/http"
	"sort"
	"strings"

	"github.com/ooctl/oo/pkg/api"
)

// router is a ServeMux that answers in JSON where the stock mux answers in plain text: a known
// path with the wrong method gets 405 with Allow, an unknown path 404.
type router struct {
	mux     *http.ServeMux
	methods map[string][]string // pattern path → methods registered on it
}

func newRouter() *router {
	return &router{mux: http.NewServeMux(), methods: map[string][]string{}}
}

// handle registers h for method and path (a ServeMux pattern path such as
// "/registry-svc/instance/{id}").
func (rt *router) handle(method, path string, h http.HandlerFunc) {
	rt.mux.HandleFunc(method+" "+path, h)
	rt.methods[path] = append(rt.methods[path], method)
}

// routes lists what was registered as "METHOD /path", sorted.
func (rt *router) routes() []string {
	var out []string
	for path, methods := range rt.methods {
		for _, m := range methods {
			out = append(out, m+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

// finish adds the JSON 405 and 404 fallbacks. A pattern with a method is more specific than the
// same path without one, so the fallbacks only see requests no real handler matched.
func (rt *router) finish() http.Handler {
	for path, methods := range rt.methods {
		sort.Strings(methods)
		allow := strings.Join(methods, ", ")
		rt.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			WriteJSON(w, http.StatusMethodNotAllowed, api.ErrorResponse{
				Error: "method " + r.Method + " not allowed on " + r.URL.Path + "; allowed: " + allow,
			})
		})
	}
	rt.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusNotFound, api.ErrorResponse{Error: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return rt.mux
}
