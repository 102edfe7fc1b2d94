package server

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// StatusOptions is what `oo server status` needs.
type StatusOptions struct {
	cmdutil.Deps
	output string
}

// NewCmdStatus returns `oo server status`; runF, when set, runs instead of statusRun (tests).
func NewCmdStatus(f *cmdutil.Factory, runF func(*StatusOptions) error) *cobra.Command {
	if runF == nil {
		runF = statusRun
	}
	o := &StatusOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the server's version, uptime, store, counts and probing state",
		Long: `Show the state of the server that answers: its version and uptime, where it keeps
state (the bbolt file, or etcd endpoints and prefix), how many accounts, slugs and instances
(by status) there are, whether instances are health-checked and by this server, and who may
read /metrics. In a cluster, "oo server ls" lists the replicas.`,
		Example: `  oo server status
  oo server status -o json | jq '.instances.Unreachable'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			return runF(o)
		},
	}
	cmdutil.AddOutputFlag(cmd, &o.output)
	return cmd
}

func statusRun(o *StatusOptions) error {
	if err := cmdutil.CheckOutput(o.output); err != nil {
		return err
	}
	s, err := o.Session(true)
	if err != nil {
		return err
	}
	st, err := o.Client(s).ServerStatus(o.Ctx)
	if err != nil {
		return err
	}
	if cmdutil.WantJSON(o.output) {
		return cmdutil.PrintJSON(o.IO.Out, st)
	}
	return printStatus(o.IO.Out, s.URL, st)
}

func printStatus(w io.Writer, url string, st *api.ServerStatus) error {
	total := 0
	var by []string
	for _, s := range api.Statuses {
		total += st.Instances[s]
		if n := st.Instances[s]; n > 0 {
			by = append(by, fmt.Sprintf("%d %s", n, s))
		}
	}
	instances := fmt.Sprint(total)
	if len(by) > 0 {
		instances += " (" + strings.Join(by, ", ") + ")"
	}
	probing := "off (--probe-interval 0)"
	switch {
	case st.Probing.Enabled && st.Probing.Here:
		probing = "every " + (time.Duration(st.Probing.IntervalSeconds * float64(time.Second))).String() + ", by this server"
	case st.Probing.Enabled:
		probing = "by another replica (see oo server ls)"
	}
	uptime := (time.Duration(st.UptimeSeconds) * time.Second).String()
	rows := [][2]string{
		{"Server", url},
		{"Version", st.Version},
		{"Uptime", uptime + " (since " + st.StartedAt.UTC().Format(time.RFC3339) + ")"},
		{"Store", st.Store},
		{"Accounts", fmt.Sprint(st.Users)},
		{"Slugs", fmt.Sprint(st.Slugs)},
		{"Instances", instances},
		{"Probing", probing},
		{"Metrics", st.Metrics},
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-10s %s\n", r[0]+":", r[1])
	}
	_, err := io.WriteString(w, b.String())
	return err
}
