// Package client is a typed Go client for the oo HTTP API. A non-2xx answer becomes *Error; a
// server that cannot be reached becomes *Error with Status 0, so callers can tell the two apart.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

// Client talks to one oo server, optionally as one user.
type Client struct {
	baseURL string
	token   string
	http    *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithToken authenticates every request with a bearer token.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient replaces the default HTTP client (30 s timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// New returns a client for the server at baseURL, e.g. "http://127.0.0.1:58231".
func New(baseURL string, opts ...Option) *Client {
	c := &Client{baseURL: strings.TrimRight(baseURL, "/"), http: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL is the server's URL without a trailing slash.
func (c *Client) BaseURL() string { return c.baseURL }

// Token is the bearer token the client sends, if any.
func (c *Client) Token() string { return c.token }

// WithoutTimeLimit returns a copy of c whose requests are bounded only by their context, for
// streams and long polls that outlast the default 30 s.
func (c *Client) WithoutTimeLimit() *Client {
	cp := *c
	h := *c.http
	h.Timeout = 0
	cp.http = &h
	return &cp
}

// WithToken returns a copy of c that sends token.
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token = token
	return &cp
}

// Error is a failed API call.
type Error struct {
	Status  int    // HTTP status; 0 when the server could not be reached
	Message string // the server's {"error"} message, or the transport error
	Method  string
	URL     string
	Err     error // the transport error when Status is 0
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("cannot reach the oo server at %s: %s", e.URL, e.Message)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// StatusCode lets the CLI map API errors to exit codes without importing this package.
func (e *Error) StatusCode() int { return e.Status }

// IsStatus reports whether err is an API error with the given HTTP status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// IsUnreachable reports whether err means the server could not be reached at all.
func IsUnreachable(err error) bool { return IsStatus(err, 0) }

// Do sends a raw request to path (which may include a query string) with the client's token and
// returns the response whatever its status; the caller closes the body. It is what `oo call`
// and the proxy-facing helpers use. Only transport failures are errors.
func (c *Client) Do(ctx context.Context, method, path string, body io.Reader, header http.Header) (*http.Response, error) {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.token != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	rsp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Status: 0, Message: transportMessage(err), Method: method, URL: c.baseURL, Err: err}
	}
	return rsp, nil
}

// transportMessage keeps the useful tail of a net/http error ("connection refused").
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg, "dial tcp") {
		msg = msg[i+2:]
	}
	return msg
}

// call sends in as JSON (nil for no body) and decodes a 2xx JSON answer into out (nil to
// discard). A non-2xx answer becomes *Error with the server's message.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	h := http.Header{}
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
		h.Set("Content-Type", "application/json")
	}
	h.Set("Accept", "application/json")
	// oo's own client wants oo's extensions; other clients get the upstream models only.
	h.Set(api.HeaderPrefer, api.PreferExtras)
	rsp, err := c.Do(ctx, method, path, body, h)
	if err != nil {
		return err
	}
	defer rsp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(rsp.Body, 64<<20))
	if err != nil {
		return &Error{Status: 0, Message: "reading response: " + err.Error(), Method: method, URL: c.baseURL, Err: err}
	}
	if rsp.StatusCode/100 != 2 {
		return errorFrom(method, c.baseURL+path, rsp.StatusCode, raw)
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decoding response: %w", method, path, err)
	}
	return nil
}

// errorFrom builds an *Error from a non-2xx body, falling back to the status text when the body
// is not the API's {"error"} shape (a proxied service may answer anything).
func errorFrom(method, u string, status int, raw []byte) *Error {
	var er api.ErrorResponse
	msg := ""
	if json.Unmarshal(raw, &er) == nil && er.Error != "" {
		msg = er.Error
	} else if s := strings.TrimSpace(string(raw)); s != "" && len(s) < 300 {
		msg = fmt.Sprintf("HTTP %d: %s", status, s)
	} else {
		msg = fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	return &Error{Status: status, Message: msg, Method: method, URL: u}
}

// ErrorFromResponse reads a non-2xx response into *Error (for users of Do).
func ErrorFromResponse(rsp *http.Response) *Error {
	raw, _ := io.ReadAll(io.LimitReader(rsp.Body, 1<<20))
	return errorFrom(rsp.Request.Method, rsp.Request.URL.String(), rsp.StatusCode, raw)
}
