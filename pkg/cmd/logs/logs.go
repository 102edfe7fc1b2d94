// Package logs is `oo logs`: follow the requests the proxy serves to one slug as they happen.
package logs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/tableprinter"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// Options is what `oo logs` needs.
type Options struct {
	cmdutil.Deps
	output string
	slug   string
}

// NewCmd returns `oo logs`; runF, when set, runs instead of run (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	if runF == nil {
		runF = run
	}
	o := &Options{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "logs [SLUG]",
		Short: "Follow the requests to a slug as they happen",
		Long: `Follow the requests the server's proxy serves to SLUG (default: the account you are logged in
as), one line per request when it ends: time, method, status, duration, path, the instance
that answered, the request id (the X-Request-Id the service and the access log saw), the
caller's slug when the request carried a valid oo token, and the bytes in and out.

Only SLUG's owner and admins may follow it. Nothing is stored: you see the requests that end
while you follow, on the server you are connected to (in a cluster, each replica proxies its
own share).

A follower that cannot keep up (a slow terminal, a paused pipe) never slows the proxy: the
server skips what it cannot take, and oo logs says on stderr how many requests it did not
show.

-o json prints one JSON object per line (time, method, path, status, durationMs, instance,
requestId, caller, bytesIn, bytesOut, upstream), for jq and scripts.

Ctrl-C (SIGINT) or SIGTERM ends it with exit code 0. When the server goes away (it shut
down or restarted), oo logs says so and exits with code 7; run it again to follow on.`,
		Example: `  oo logs                       # the requests to your own slug
  oo logs hello-svc             # one slug (its owner or an admin)
  oo logs hello-svc -o json | jq -c 'select(.status >= 500)'
  oo logs hello-svc -o json | jq -r '.requestId'   # ids to grep the access log for`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if len(args) == 1 {
				o.slug = args[0]
			}
			return runF(o)
		},
	}
	cmdutil.AddOutputFlag(cmd, &o.output)
	return cmd
}

func run(o *Options) error {
	if err := cmdutil.CheckOutput(o.output); err != nil {
		return err
	}
	s, err := o.Session(true)
	if err != nil {
		return err
	}
	slug := o.slug
	if slug == "" {
		slug = s.Slug
	}
	if slug == "" {
		return cmdutil.Usagef("name the slug to follow: oo logs SLUG")
	}
	if err := api.CheckSlug(slug); err != nil {
		return cmdutil.Usage(err)
	}
	// Ctrl-C or kill is how following ends. Catching the signals (instead of dying of them)
	// ends it cleanly with exit 0, also in a script that started it with SIGINT ignored.
	ctx, stop := signal.NotifyContext(o.Ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	ios := o.IO
	p := &printer{out: ios.Out, json: cmdutil.WantJSON(o.output), tty: ios.IsStdoutTTY(),
		st: tableprinter.NewStyles(ios), enc: json.NewEncoder(ios.Out)}
	p.enc.SetEscapeHTML(false)
	var shown uint64
	err = o.Client(s).FollowLogs(ctx, slug, client.LogsHandler{
		Connected: func() {
			if ios.IsStderrTTY() && !p.json {
				fmt.Fprintf(ios.ErrOut, "Following the requests to %s on %s (Ctrl-C to stop)\n", slug, s.URL)
			}
		},
		Event: p.print,
		Dropped: func(total uint64) error {
			fmt.Fprintf(ios.ErrOut, "oo: warning: %d requests to %s not shown (%d since oo logs started): this follower fell behind, and the server skips what it cannot take rather than slow the proxy\n",
				total-shown, slug, total)
			shown = total
			return nil
		},
	})
	switch {
	case ctx.Err() != nil:
		return nil // Ctrl-C is how following ends; not a failure.
	case errors.Is(err, client.ErrStreamEnded):
		return cmdutil.AsIs(cmdutil.WithCode(cmdutil.ExitUnreached, err),
			fmt.Sprintf("the server at %s ended the stream (it shut down or restarted?): run oo logs again to follow on", s.URL))
	}
	return err
}

// printer writes one request per line: JSON, or a line for people.
type printer struct {
	out  io.Writer
	json bool
	tty  bool
	st   tableprinter.Styles
	enc  *json.Encoder
}

func (p *printer) print(ev api.LogEvent) error {
	if p.json {
		return p.enc.Encode(ev)
	}
	_, err := io.WriteString(p.out, p.line(ev)+"\n")
	return err
}

// line is ev for people: the parts that vary most in fixed-width columns first, then the path,
// then key=value pairs (dim on a terminal).
func (p *printer) line(ev api.LogEvent) string {
	when := ev.Time.Local().Format("15:04:05.000")
	if !p.tty {
		// A log kept in a file needs the date and the zone.
		when = ev.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	status := fmt.Sprintf("%3d", ev.Status)
	switch {
	case ev.Status == 0:
		status = p.st.Bad.Render("---") // cut off before a status was sent
	case ev.Status >= 500:
		status = p.st.Bad.Render(status)
	case ev.Status >= 400:
		status = p.st.Warn.Render(status)
	case ev.Status < 300:
		status = p.st.Good.Render(status)
	}
	extra := []string{"instance=" + orDash(ev.Instance), "request=" + orDash(ev.RequestID), "caller=" + orDash(ev.Caller),
		"in=" + strconv.FormatInt(ev.BytesIn, 10) + "B", "out=" + strconv.FormatInt(ev.BytesOut, 10) + "B"}
	tail := p.st.Dim.Render(strings.Join(extra, " "))
	if ev.Upstream != "" {
		tail += " " + p.st.Bad.Render("upstream="+ev.Upstream)
	}
	return fmt.Sprintf("%s %-7s %s %9s %s  %s", when, ev.Method, status, duration(ev.DurationMs), ev.Path, tail)
}

// duration renders milliseconds with about three significant digits.
func duration(ms float64) string {
	switch {
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64) + "ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	}
	return (time.Duration(ms * float64(time.Millisecond))).Round(time.Millisecond).String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
