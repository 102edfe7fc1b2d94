// Package benchserver holds what the bench commands need to run a real `oo server start` on
// 127.0.0.1: a free port, and waiting until the server answers.
package benchserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// FreeAddr is a loopback address with a port nothing listens on right now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// WaitServing returns once the server at base answers its health check, or an error after 15s.
func WaitServing(ctx context.Context, base string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if rsp, err := http.Get(base + "/proxy-svc/healthz"); err == nil {
			rsp.Body.Close()
			if rsp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("oo server start did not answer within 15s")
}

// Call sends a JSON request, as oo's own client does (asking for oo's extras), and decodes a
// 2xx answer into out (when not nil); any other status is an error quoting the body.
func Call(ctx context.Context, hc *http.Client, method, url, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Prefer", "oo-extras")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rsp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer rsp.Body.Close()
	raw, _ := io.ReadAll(rsp.Body)
	if rsp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d %s", method, url, rsp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}
