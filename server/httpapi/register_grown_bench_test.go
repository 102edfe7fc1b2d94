package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ooctl/oo/internal/growtest"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// BenchmarkRegisterHTTPGrown is server/registry's BenchmarkRegisterGrown through the whole
// server: b.N more PUT /registry-svc/instance over loopback HTTP from 32 clients, as
// bench/registry does, into a server (real bbolt file, no probing, no instance quota) that
// already holds 0 or 9 000 instances, under one account's slug or a slug each (registered by
// the admin). With -benchtime 1000x the two are the first and the last 1 000 of 10 000; the
// allocations per registration (the client's included, which do not change) must not grow
// with the registry (issue 12). The server is built without servertest's answer checks, which
// would cost more than the registration.
//
//	go test ./server/httpapi -run XXX -bench RegisterHTTPGrown -benchtime 1000x -benchmem
func BenchmarkRegisterHTTPGrown(b *testing.B) {
	growtest.Run(b, func(b *testing.B, many bool, held int) {
		base := benchServer(b)
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: growtest.Clients}}
		defer hc.CloseIdleConnections()
		token := benchLogin(b, hc, base, api.PathLogin, api.LoginRequest{Slug: "admin", Password: servertest.AdminPassword})
		if !many {
			token = benchLogin(b, hc, base, api.PathRegister, api.RegisterRequest{Slug: "load-svc", Name: "load", Password: "load-svc-password-1234"})
		}
		body := func(i int) []byte {
			s := `{"url":"` + growtest.URL(i) + `"`
			if many {
				s += `,"slug":"` + growtest.Slug(i) + `"`
			}
			return []byte(s + "}")
		}
		register := func(from, to int) {
			bodies := make([][]byte, to-from)
			for i := range bodies {
				bodies[i] = body(from + i)
			}
			growtest.Register(b, from, to, func(i int) error {
				req, _ := http.NewRequest(http.MethodPut, base+api.PathInstance, bytes.NewReader(bodies[i-from]))
				req.Header.Set("Authorization", "Bearer "+token)
				rsp, err := hc.Do(req)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, rsp.Body)
				rsp.Body.Close()
				if rsp.StatusCode != http.StatusCreated {
					return fmt.Errorf("registration %d: HTTP %d", i, rsp.StatusCode)
				}
				return nil
			})
		}
		register(0, held)
		b.ReportAllocs()
		b.ResetTimer()
		register(held, held+b.N)
	})
}

// benchServer runs a server on loopback until the benchmark ends and returns its base URL.
func benchServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Config{
		Addr: ln.Addr().String(), DataDir: b.TempDir(), AdminPassword: servertest.AdminPassword,
		BcryptCost: bcrypt.MinCost, ProbeInterval: -1, MaxInstances: -1,
		Logger: slog.New(slog.DiscardHandler), Stderr: io.Discard,
	})
	if err != nil {
		ln.Close()
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	b.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("server stopped with error: %v", err)
			}
		case <-time.After(15 * time.Second):
			b.Errorf("server did not stop within 15s")
		}
	})
	return "http://" + ln.Addr().String()
}

// benchLogin posts a login or an account registration and returns the token it answers.
func benchLogin(b *testing.B, hc *http.Client, base, path string, body any) string {
	var rsp api.LoginResponse
	if code := benchCall(hc, http.MethodPost, base+path, body, &rsp); code != http.StatusOK || rsp.Token.Token == "" {
		b.Fatalf("POST %s: HTTP %d", path, code)
	}
	return rsp.Token.Token
}

// benchCall sends body as JSON and decodes the answer into out; it returns the status.
func benchCall(hc *http.Client, method, url string, body, out any) int {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(raw))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	rsp, err := hc.Do(req)
	if err != nil {
		return 0
	}
	defer rsp.Body.Close()
	if json.NewDecoder(rsp.Body).Decode(out) != nil {
		return 0
	}
	return rsp.StatusCode
}
