// Command backend is the service measured by bench/run.sh: it answers {"hello":"world"} with
// Content-Type application/json on every path and method, and does nothing else, so that the
// numbers measure the proxy in front of it rather than the backend.
//
//	go run ./bench/backend -addr 127.0.0.1:9311
//
// The address may also come from BACKEND_ADDR; the flag wins.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

var (
	body        = []byte(`{"hello":"world"}`)
	contentType = []string{"application/json"}
	contentLen  = []string{strconv.Itoa(len(body))}
)

func hello(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	// Canonical keys assigned directly: no per-request canonicalisation or slice growth.
	h["Content-Type"] = contentType
	h["Content-Length"] = contentLen
	_, _ = w.Write(body)
}

func main() {
	def := os.Getenv("BACKEND_ADDR")
	if def == "" {
		def = "127.0.0.1:9311"
	}
	addr := flag.String("addr", def, "listen address (BACKEND_ADDR)")
	flag.Parse()

	srv := &http.Server{
		Addr:              *addr,
		Handler:           http.HandlerFunc(hello),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	log.Printf("backend listening on %s", *addr)
	log.Fatal(srv.ListenAndServe())
}
