// Package top implements `oo top`: a live view of every slug's traffic and health, read from
// GET /proxy-svc/top once a second.
package top

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/tableprinter"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// Options is what `oo top` needs.
type Options struct {
	cmdutil.Deps
	output   string
	once     bool
	interval time.Duration
	// snapshots stops the -o json stream after that many lines (tests); 0 is forever.
	snapshots int
}

// NewCmd returns `oo top`; runF, when set, runs instead of run (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	if runF == nil {
		runF = run
	}
	o := &Options{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Watch every slug's traffic and health live",
		Long: `Show, once a second, the traffic through the server and the health of each slug's
instances, full screen:

  SLUG       requests proxied to the slug (an admin sees every slug, anyone else their own)
  REQ/S      requests per second over the last 10 seconds
  P50, P99   latency percentiles over the same window
  ERR%       share of those requests answered 5xx or failed upstream
  IN-FLIGHT  requests being served right now
  HEALTHY    healthy instances / registered instances

Keys: r (req/s), p (p99), e (error %), i (in-flight), h (least healthy first), n (name) sort;
Tab moves to the next sort; q or Ctrl-C quits. The sorted column is marked ▼ in the header.
If the server stops answering, the error shows under the title and oo top keeps retrying.

The live view needs a terminal on stdin and stdout. For scripts and pipes:
  --once          print one table and exit
  -o json --once  print the server's JSON snapshot and exit
  -o json         print one JSON snapshot per line, every second, until Ctrl-C or SIGTERM
                  (which end it with exit code 0)

With the server started as ` + "`oo server start --metrics off`" + ` only the instance counts are live.`,
		Example: `  oo top
  oo top --once
  oo top -o json --once | jq '.slugs[] | select(.errorRate > 0.01) | .slug'
  oo top -o json | jq -c '[.time, (.slugs | map(.rps) | add)]'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			return runF(o)
		},
	}
	cmdutil.AddOutputFlag(cmd, &o.output)
	fl := cmd.Flags()
	fl.BoolVar(&o.once, "once", false, "print one snapshot and exit")
	fl.DurationVar(&o.interval, "interval", api.TopInterval, "refresh interval")
	fl.IntVar(&o.snapshots, "snapshots", 0, "stop after this many snapshots (tests)")
	_ = fl.MarkHidden("interval")
	_ = fl.MarkHidden("snapshots")
	return cmd
}

func run(o *Options) error {
	if err := cmdutil.CheckOutput(o.output); err != nil {
		return err
	}
	if o.interval < 100*time.Millisecond {
		return cmdutil.Usagef("--interval must be at least 100ms")
	}
	interactive := !o.once && !cmdutil.WantJSON(o.output)
	if interactive && (!o.IO.IsStdinTTY() || !o.IO.IsStdoutTTY()) {
		// Checked before anything else: a script gets the advice at once, not after a login error.
		return cmdutil.Usagef("oo top needs a terminal on stdin and stdout; in a script use `oo top -o json --once` (or `oo top --once` for a table)")
	}
	s, err := o.Session(true)
	if err != nil {
		return err
	}
	c := o.Client(s)
	if o.once {
		top, err := c.Top(o.Ctx)
		if err != nil {
			return err
		}
		if cmdutil.WantJSON(o.output) {
			return cmdutil.PrintJSON(o.IO.Out, top)
		}
		return o.printTable(top)
	}
	// Ctrl-C (outside raw mode) or kill ends a watch; catching them makes that a clean exit 0,
	// and in the live view the cancel runs the terminal restore.
	ctx, stop := signal.NotifyContext(o.Ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cmdutil.WantJSON(o.output) {
		return o.jsonLines(ctx, s, c)
	}
	return o.live(ctx, s, c)
}

// printTable is --once for people (and, piped, tab-separated for cut and awk).
func (o *Options) printTable(top *api.TopResponse) error {
	if top.MetricsOff {
		fmt.Fprintln(o.IO.ErrOut, "oo: metrics are off on this server (--metrics off): only instance counts are live")
	}
	tp := tableprinter.New(o.IO, "SLUG", "REQ/S", "P50", "P99", "ERR%", "IN-FLIGHT", "HEALTHY")
	for _, sl := range top.Slugs {
		tp.AddRow(cells(sl)...)
	}
	return tp.Render()
}

// jsonLines prints a snapshot per line every interval until ctx ends. Errors the next try may
// cure go to stderr; auth and usage errors end it.
func (o *Options) jsonLines(ctx context.Context, s *cmdutil.Session, c *client.Client) error {
	enc := json.NewEncoder(o.IO.Out)
	printed := 0
	for try := 0; o.snapshots == 0 || printed < o.snapshots; try++ {
		if try > 0 && !sleep(ctx, o.interval) {
			return nil
		}
		top, err := c.Top(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if fatal(err) {
				return err
			}
			fmt.Fprintf(o.IO.ErrOut, "oo: %s (retrying)\n", o.Explain(s, err))
			continue
		}
		if err := enc.Encode(top); err != nil {
			return err
		}
		printed++
	}
	return nil
}

// fatal says whether a fetch error ends oo top instead of being retried.
func fatal(err error) bool {
	code := cmdutil.ExitCode(err)
	return code == cmdutil.ExitAuth || code == cmdutil.ExitUsage || code == cmdutil.ExitNotFound
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
