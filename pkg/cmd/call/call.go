// Package call implements `oo call`: one authenticated HTTP request to the server, or through
// its proxy to a service, for exploring and scripting the API.
package call

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// Options is what `oo call` needs.
type Options struct {
	cmdutil.Deps
	method  string
	path    string
	data    string
	headers []string
	include bool
	raw     bool
	timeout time.Duration
}

var methods = map[string]string{
	"get": http.MethodGet, "post": http.MethodPost, "put": http.MethodPut,
	"patch": http.MethodPatch, "delete": http.MethodDelete, "head": http.MethodHead,
}

// NewCmd returns `oo call`; runF, when set, runs instead of callRun (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	if runF == nil {
		runF = callRun
	}
	o := &Options{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "call get|post|put|patch|delete PATH",
		Short: "Send an authenticated request to the server or, through it, to a service",
		Long: `Send one HTTP request to the current environment's server with your token. PATH is a
server path: /user-svc/..., /registry-svc/..., or /<slug>/... to reach a service through the
proxy. Without a login the request goes out without a token.

The body comes from -d: literal JSON, @FILE, or @- for stdin (stdin is never read without
-d @-, so a script cannot hang on it). Content-Type defaults to application/json.

The response body goes to stdout: indented when it is JSON and stdout is a terminal, byte for
byte otherwise. A non-2xx answer prints the error on stderr and exits non-zero (2 for 400, 4 for
401/403, 5 for 404, 6 for 409, 1 otherwise); -i prints the status line, headers and body in every case.

There is no time limit unless --timeout gives one, so a stream or a long poll runs as long as
the server keeps it open, and its body is written out as it arrives (a JSON body for a terminal
is indented, so it is written once complete). When --timeout passes before the answer is
complete, oo says so and exits 8; what had arrived is already on stdout.`,
		Example: `  oo call get /skeleton-svc/hello
  oo call get '/registry-svc/instances?slug=skeleton-svc'
  oo call post /user-svc/users -d '{"query":{"limit":5}}'
  oo call put /registry-svc/instance -d @instance.json
  echo '{"ping":1}' | oo call post /echo-svc/echo -d @- -H 'X-Trace: 1' -i
  oo call get /events-svc/stream --timeout 5m`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return cmdutil.Usagef("want a method and a path, e.g. `oo call get /skeleton-svc/hello`")
			}
			if _, ok := methods[strings.ToLower(args[0])]; !ok {
				return cmdutil.Usagef("unknown method %q: use get, post, put, patch, delete or head", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.method = methods[strings.ToLower(args[0])]
			o.path, o.Ctx = args[1], cmd.Context()
			return runF(o)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.data, "data", "d", "", "request body: JSON text, @FILE, or @- for stdin")
	fl.StringArrayVarP(&o.headers, "header", "H", nil, "extra request header 'Key: Value' (repeatable)")
	fl.BoolVarP(&o.include, "include", "i", false, "print the status line and response headers first")
	fl.BoolVar(&o.raw, "raw", false, "never reformat the body, even on a terminal")
	fl.DurationVar(&o.timeout, "timeout", 0, "give up when the whole answer has not arrived within this long, e.g. 30s (default: no limit)")
	return cmd
}

func (o *Options) body() ([]byte, error) {
	switch {
	case o.data == "":
		return nil, nil
	case o.data == "@-":
		return io.ReadAll(o.IO.In)
	case strings.HasPrefix(o.data, "@"):
		b, err := os.ReadFile(o.data[1:])
		if err != nil {
			return nil, cmdutil.Usagef("-d %s: %v", o.data, err)
		}
		return b, nil
	}
	return []byte(o.data), nil
}

func callRun(o *Options) error {
	if !strings.HasPrefix(o.path, "/") {
		if u, err := url.Parse(o.path); err == nil && u.Scheme != "" && u.Host != "" {
			// A whole URL: the server part comes from the environment (or OO_URL).
			return cmdutil.Usagef("PATH is a path on the oo server, not a URL: try %s (the server is the environment's, or OO_URL's)", u.RequestURI())
		}
		return cmdutil.Usagef("PATH must start with '/', e.g. /%s", o.path)
	}
	h := http.Header{}
	for _, kv := range o.headers {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return cmdutil.Usagef("header %q: want 'Key: Value'", kv)
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	body, err := o.body()
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/json")
		}
	}
	if o.timeout < 0 {
		return cmdutil.Usagef("--timeout %s is negative", o.timeout)
	}
	s, err := o.Session(false)
	if err != nil {
		return err
	}
	ctx := o.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	// The API client's own time limit suits API calls, not a stream or a long poll: --timeout
	// alone bounds this request.
	rsp, err := o.Client(s).WithoutTimeLimit().Do(ctx, o.method, o.path, rd, h)
	if err != nil {
		return o.timedOut(ctx, err, false)
	}
	defer rsp.Body.Close()
	ios := o.IO
	if o.include {
		fmt.Fprintf(ios.Out, "%s %s\n", rsp.Proto, rsp.Status)
		keys := make([]string, 0, len(rsp.Header))
		for k := range rsp.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range rsp.Header[k] {
				fmt.Fprintf(ios.Out, "%s: %s\n", k, v)
			}
		}
		fmt.Fprintln(ios.Out)
	}
	ok := rsp.StatusCode/100 == 2
	if !ok && !o.include {
		return o.timedOut(ctx, o.answerError(s, client.ErrorFromResponse(rsp)), true)
	}
	if ok && !o.reformat(rsp) {
		return o.timedOut(ctx, o.stream(rsp.Body), true)
	}
	raw, err := io.ReadAll(rsp.Body)
	if err != nil {
		return o.timedOut(ctx, err, true)
	}
	if err := o.write(rsp, raw); err != nil {
		return err
	}
	if !ok {
		rsp.Body = io.NopCloser(bytes.NewReader(raw))
		return o.answerError(s, client.ErrorFromResponse(rsp))
	}
	return nil
}

// answerError words a non-2xx answer. A 401 while the stored token is still within its lifetime
// is most likely the called endpoint's own verdict (a login with a wrong password, a service
// refusing the caller), not a dead token, so it is shown as the answer it is rather than with
// the "log in again" hint.
func (o *Options) answerError(s *cmdutil.Session, ce *client.Error) error {
	if ce.Status == http.StatusUnauthorized && s.Token != "" && !s.FromEnvVar {
		if c, err := cmdutil.ParseClaims(s.Token); err == nil && c.ExpiresAt.After(o.Now()) {
			return cmdutil.AsIs(ce, fmt.Sprintf("HTTP 401 from %s %s: %s (if your token was revoked: `%s`)",
				o.method, o.path, ce.Message, o.LoginHint(s, s.Slug)))
		}
	}
	return ce
}

// timedOut words err as a timeout when --timeout is what ended the request; started says
// whether the answer had begun to arrive.
func (o *Options) timedOut(ctx context.Context, err error, started bool) error {
	if err == nil || o.timeout <= 0 || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	what := "no answer"
	if started {
		what = "the answer did not finish"
	}
	return cmdutil.WithCode(cmdutil.ExitTimeout, fmt.Errorf("%s %s timed out: %s within --timeout %s", o.method, o.path, what, o.timeout))
}

// reformat says whether the body is indented for a person (and so read whole first).
func (o *Options) reformat(rsp *http.Response) bool {
	mt, _, _ := mime.ParseMediaType(rsp.Header.Get("Content-Type"))
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	return o.IO.IsStdoutTTY() && !o.raw && isJSON
}

// stream copies the body to stdout as it arrives, for streams and long polls.
func (o *Options) stream(body io.Reader) error {
	out := o.IO.Out
	buf := make([]byte, 32<<10)
	var last byte
	for {
		n, err := body.Read(buf)
		if n > 0 {
			last = buf[n-1]
			if _, werr := out.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	// Keep the shell prompt on its own line after a body that lacks a final newline.
	if o.IO.IsStdoutTTY() && last != 0 && last != '\n' {
		_, err := io.WriteString(out, "\n")
		return err
	}
	return nil
}

// write prints a whole body: indented JSON for a person, the exact bytes for a program.
func (o *Options) write(rsp *http.Response, raw []byte) error {
	out := o.IO.Out
	if o.reformat(rsp) && len(raw) > 0 {
		var buf bytes.Buffer
		if json.Indent(&buf, bytes.TrimSpace(raw), "", "  ") == nil {
			buf.WriteByte('\n')
			_, err := out.Write(buf.Bytes())
			return err
		}
	}
	if _, err := out.Write(raw); err != nil {
		return err
	}
	// Keep the shell prompt on its own line after a body that lacks a final newline.
	if o.IO.IsStdoutTTY() && len(raw) > 0 && raw[len(raw)-1] != '\n' {
		_, err := io.WriteString(out, "\n")
		return err
	}
	return nil
}
