// Command go-svc is the first oo service, written with the Go SDK: behind `oo server start` it
// answers GET SERVER/go-svc/hello with {"hello":"world"}.
//
// Run it directly (it creates its account and registers itself):
//
//	OO_URL=http://127.0.0.1:58231 go run ./examples/go
//
// or let oo launch and supervise it:
//
//	oo service run --slug go-svc -- go run ./examples/go
package main

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/ooctl/oo/pkg/sdk"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	svc, err := sdk.Start(ctx, "go-svc") // account, listener, registration, heartbeats
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close() // deregisters

	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+svc.Slug()+"/hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"hello": "world"})
	})
	// Only callers with a valid oo token get in; the handler learns who they are. (A service
	// reachable only through oo can instead read sdk.ProxiedCaller(r): the identity the server
	// verified, revocation included, with no key or signature check here.)
	mux.Handle("GET /"+svc.Slug()+"/whoami", svc.Verifier().Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := sdk.CallerFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"slug": c.Slug, "roles": c.Roles})
	})))

	log.Printf("%s listening on %s as instance %s", svc.Slug(), svc.URL(), svc.InstanceID())
	if err := svc.Serve(mux); err != nil {
		log.Fatal(err)
	}
}
