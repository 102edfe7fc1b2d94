// Package sdk is what a Go service imports to live behind an oo server.
//
// A service needs an account (its slug), an instance in the registry (its URL) kept alive with
// heartbeats, and a way to check who is calling it. Start does the first two from the
// environment; Verifier does the third offline with the server's public key:
//
//	svc, err := sdk.Start(ctx, "hello-svc") // account, listener, instance, heartbeats
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer svc.Close() // deregisters
//	mux.HandleFunc("GET /"+svc.Slug()+"/hello", hello)
//	log.Fatal(svc.Serve(mux)) // until ctx ends
//
// # Environment
//
//   - OO_URL (or OB_URL, OPENORCH_URL as programs written for the reference system use): the
//     server; default http://127.0.0.1:58231.
//   - SELF_URL: the URL the server reaches this instance at. Without it the service listens on
//     127.0.0.1:$PORT, or on a free loopback port when PORT is unset too.
//   - OO_TOKEN_FILE: a file holding the service's current token, read on every use (`oo service
//     run` passes one and keeps it current).
//   - OO_TOKEN: the service's bearer token, used as is. Without either the service logs in with
//     the password it stored on an earlier run, or registers its slug with a fresh random
//     password and stores that: 0600 in $XDG_DATA_HOME/oo/services/<slug>.json, in a 0700
//     directory. A token from the password is renewed a third of the way through its life and
//     whenever the server refuses it, so a service outlives its tokens.
//   - OO_SLUG: overrides the slug given to Start, so `oo service run --slug x` can rename a
//     service without recompiling it.
//
// The package imports only the standard library, the oo wire types and client, and a JWT
// library: no CLI, keyring or database code, so it stays small inside a service binary.
package sdk
