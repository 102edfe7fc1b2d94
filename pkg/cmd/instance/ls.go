package instance

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

// LsOptions is what `oo instance ls` needs.
type LsOptions struct {
	cmdutil.Deps
	output   string
	filter   client.InstanceFilter
	watch    bool
	interval time.Duration
	limit    int // show at most this many; 0 all
	pageSize int // instances per request; 0 client.DefaultPageSize
	// snapshots stops --watch after that many refreshes (tests); 0 is forever.
	snapshots int
}

// NewCmdLs returns `oo instance ls`; runF, when set, runs instead of lsRun (tests).
func NewCmdLs(f *cmdutil.Factory, runF func(*LsOptions) error) *cobra.Command {
	if runF == nil {
		runF = lsRun
	}
	o := &LsOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List registered instances",
		Long: `List the instances in the registry: ID, URL, STATUS, OWNER SLUG and how long ago the last
heartbeat came ("-" when the instance never sent one).

The list is fetched --page-size instances at a time; --limit stops after that many.

--watch refreshes the list every --interval: in place on a terminal; when piped it prints a
new snapshot (or, with -o json, one JSON document per line) whenever the list changes. It
keeps going through transient errors (server restarting) and stops on auth errors. Ctrl-C
(SIGINT) or SIGTERM ends it with exit code 0: that is the normal way to stop a watch.`,
		Example: `  oo instance ls
  oo instance ls --slug skeleton-svc
  oo instance ls -o json | jq -r '.instances[].url'
  oo instance ls --watch --interval 2s
  oo instance ls --limit 20`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			return runF(o)
		},
	}
	cmdutil.AddOutputFlag(cmd, &o.output)
	fl := cmd.Flags()
	fl.StringVar(&o.filter.Slug, "slug", "", "only instances owned by this slug")
	fl.StringVar(&o.filter.ID, "id", "", "only the instance with this id")
	fl.StringVar(&o.filter.Host, "host", "", "only instances on this host")
	fl.BoolVarP(&o.watch, "watch", "w", false, "keep refreshing until interrupted")
	fl.DurationVar(&o.interval, "interval", 2*time.Second, "refresh interval for --watch")
	fl.IntVar(&o.limit, "limit", 0, "show at most this many instances (0: all)")
	fl.IntVar(&o.pageSize, "page-size", client.DefaultPageSize, "instances fetched per request")
	return cmd
}

func lsRun(o *LsOptions) error {
	ctx := o.Ctx
	if err := cmdutil.CheckOutput(o.output); err != nil {
		return err
	}
	if o.watch && o.interval < 100*time.Millisecond {
		return cmdutil.Usagef("--interval must be at least 100ms")
	}
	if o.limit < 0 || o.pageSize < 0 {
		return cmdutil.Usagef("--limit and --page-size must not be negative")
	}
	s, err := o.Session(true)
	if err != nil {
		return err
	}
	c := o.Client(s)
	if !o.watch {
		list, err := o.list(ctx, c)
		if err != nil {
			return err
		}
		return o.print(list)
	}
	// Ctrl-C or kill is how a watch ends. Catching the signals (instead of dying of them) lets
	// it end cleanly with exit 0, and works in a script that started it with SIGINT ignored.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return o.watchLoop(ctx, s, c)
}

func (o *LsOptions) list(ctx context.Context, c *client.Client) ([]api.Instance, error) {
	return c.ListAllInstances(ctx, o.filter, o.pageSize, o.limit)
}

func (o *LsOptions) print(list []api.Instance) error {
	ios := o.IO
	if cmdutil.WantJSON(o.output) {
		if o.watch && !ios.IsStdoutTTY() {
			// One document per line, so a reader can act on each snapshot as it comes.
			return json.NewEncoder(ios.Out).Encode(api.ListInstancesResponse{Instances: list})
		}
		return cmdutil.PrintJSON(ios.Out, api.ListInstancesResponse{Instances: list})
	}
	tp := tableprinter.New(ios, "ID", "URL", "STATUS", "OWNER SLUG", "LAST HEARTBEAT")
	st := tp.Styles()
	now := o.Now()
	for _, in := range list {
		hb := "-"
		if in.LastHeartbeat != nil && !in.LastHeartbeat.IsZero() {
			hb = cmdutil.Age(now, *in.LastHeartbeat)
		}
		status := string(in.Status)
		switch in.Status {
		case api.StatusHealthy:
			status = st.Good.Render(status)
		case api.StatusDegraded, api.StatusUnknown:
			status = st.Warn.Render(status)
		case api.StatusUnreachable, api.StatusError:
			status = st.Bad.Render(status)
		}
		slug := in.Slug
		if slug == "" {
			slug = "-"
		}
		tp.AddRow(in.ID, in.URL, status, slug, hb)
	}
	return tp.Render()
}

// watchLoop refreshes until ctx ends. On a terminal it redraws in place; when piped it prints
// only snapshots that differ from the previous one, so a log of it shows changes.
func (o *LsOptions) watchLoop(ctx context.Context, s *cmdutil.Session, c *client.Client) error {
	ios := o.IO
	tty := ios.IsStdoutTTY()
	var last string
	for n := 0; o.snapshots == 0 || n < o.snapshots; n++ {
		if n > 0 {
			t := time.NewTimer(o.interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil // Ctrl-C is how a watch ends; not a failure.
			case <-t.C:
			}
		}
		list, err := o.list(ctx, c)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if code := cmdutil.ExitCode(err); code == cmdutil.ExitAuth || code == cmdutil.ExitUsage {
				return err
			}
			msg := o.Explain(s, err).Error()
			if tty {
				fmt.Fprintf(ios.Out, "\x1b[H\x1b[2J%s  (retrying every %s)\n", msg, o.interval)
			} else {
				fmt.Fprintf(ios.ErrOut, "oo: %s (retrying every %s)\n", msg, o.interval)
			}
			last = ""
			continue
		}
		if tty {
			// Home the cursor and clear, then draw: the table stays in one place.
			fmt.Fprintf(ios.Out, "\x1b[H\x1b[2JEvery %s: oo instance ls    %s\n\n", o.interval, o.Now().Format("15:04:05"))
			if err := o.print(list); err != nil {
				return err
			}
			continue
		}
		key := watchKey(list)
		if key == last {
			continue
		}
		printed := last != ""
		last = key
		if printed && !cmdutil.WantJSON(o.output) {
			fmt.Fprintln(ios.Out)
		}
		if err := o.print(list); err != nil {
			return err
		}
	}
	return nil
}

// watchKey is what makes two snapshots differ for a piped --watch: which instances there are
// and what state they are in. Times that move on every heartbeat or probe are left out, or
// every refresh would be a "change".
func watchKey(list []api.Instance) string {
	type state struct {
		ID, URL, Slug, Details, HealthPath, HeartbeatTTL string
		Status                                           api.InstanceStatus
		Tags                                             []string
		EverBeat                                         bool // "-" or an age in LAST HEARTBEAT
	}
	rows := make([]state, len(list))
	for i, in := range list {
		rows[i] = state{ID: in.ID, URL: in.URL, Slug: in.Slug, Details: in.Details, HealthPath: in.HealthPath,
			HeartbeatTTL: in.HeartbeatTTL, Status: in.Status, Tags: in.Tags,
			EverBeat: in.LastHeartbeat != nil && !in.LastHeartbeat.IsZero()}
	}
	key, _ := json.Marshal(rows)
	return string(key)
}
