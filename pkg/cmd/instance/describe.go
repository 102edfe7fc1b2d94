package instance

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// DescribeOptions is what `oo instance describe` needs.
type DescribeOptions struct {
	cmdutil.Deps
	ID     string
	output string
}

// Description is what `oo instance describe -o json` prints: the instance with oo's fields,
// its recent status changes as the answering server saw them, and the requests that server's
// proxy sent it (null when the server records none: --metrics off).
type Description struct {
	Instance         api.Instance             `json:"instance"`
	Transitions      []api.InstanceTransition `json:"transitions"`
	TransitionsTotal uint64                   `json:"transitionsTotal"`
	Traffic          *api.InstanceTraffic     `json:"traffic"`
}

// NewCmdDescribe returns `oo instance describe`; runF, when set, runs instead of describeRun
// (tests).
func NewCmdDescribe(f *cmdutil.Factory, runF func(*DescribeOptions) error) *cobra.Command {
	if runF == nil {
		runF = describeRun
	}
	o := &DescribeOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:     "describe ID",
		Aliases: []string{"show", "get"},
		Short:   "Show everything known about one instance, and why it has its status",
		Long: `Show one instance: its URL, owner, status and why (the last failing probe's error),
health check path, heartbeat TTL and last heartbeat, when a probe last got an answer, when it
was registered, the requests the proxy sent it and how many failed (5xx or a failed
connection; since the server started), and its last status changes with their times and
reasons (the last 8 this server saw since it started; in a cluster the prober replica knows
the reasons, and each replica counts the requests it proxied).`,
		Example: `  oo instance describe inst_VcXqXrj1IIj6sEN50
  oo instance describe inst_VcXqXrj1IIj6sEN50 -o json | jq '.transitions[-1]'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID, o.Ctx = args[0], cmd.Context()
			return runF(o)
		},
	}
	cmdutil.AddOutputFlag(cmd, &o.output)
	return cmd
}

func describeRun(o *DescribeOptions) error {
	if err := cmdutil.CheckOutput(o.output); err != nil {
		return err
	}
	s, err := o.Session(true)
	if err != nil {
		return err
	}
	c := o.Client(s)
	in, err := c.GetInstance(o.Ctx, o.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", o.ID, o.Explain(s, err))
	}
	tr, err := c.InstanceTransitions(o.Ctx, o.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", o.ID, o.Explain(s, err))
	}
	d := Description{Instance: *in, Transitions: tr.Transitions, TransitionsTotal: tr.Total, Traffic: tr.Traffic}
	if d.Transitions == nil {
		d.Transitions = []api.InstanceTransition{}
	}
	if cmdutil.WantJSON(o.output) {
		return cmdutil.PrintJSON(o.IO.Out, d)
	}
	return printDescription(o.IO.Out, d, o.IO.IsStdoutTTY(), o.Now())
}

// requests says how many requests the instance had and how many failed.
func requests(t *api.InstanceTraffic) string {
	switch {
	case t == nil:
		return "not recorded (the server runs with --metrics off)"
	case t.Requests == 0:
		return "none since the server started"
	}
	return fmt.Sprintf("%d since the server started, %d errors (%.1f%%)", t.Requests, t.Errors,
		100*float64(t.Errors)/float64(t.Requests))
}

// printDescription writes d as aligned "Field: value" lines, then the transitions.
func printDescription(w io.Writer, d Description, tty bool, now time.Time) error {
	in := d.Instance
	when := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return cmdutil.When(tty, now, *t)
	}
	why := in.Details
	if why == "" {
		why = "-"
	}
	ttl := in.HeartbeatTTL
	if ttl == "" {
		ttl = "none (probes alone decide)"
	}
	health := "GET " + in.HealthPath
	if in.HealthPath == "" {
		health = "TCP connect (no health path)"
	}
	rows := [][2]string{
		{"ID", in.ID},
		{"URL", in.URL},
		{"Owner", in.Slug},
		{"Status", string(in.Status)},
		{"Why", why},
		{"Health check", health},
		{"Heartbeat TTL", ttl},
		{"Last heartbeat", when(in.LastHeartbeat)},
		{"Last seen", when(in.LastSeen)},
		{"Created", cmdutil.When(tty, now, in.CreatedAt)},
	}
	if in.DeploymentID != "" {
		rows = append(rows, [2]string{"Deployment", in.DeploymentID})
	}
	if len(in.Tags) > 0 {
		rows = append(rows, [2]string{"Tags", strings.Join(in.Tags, ", ")})
	}
	rows = append(rows, [2]string{"Requests", requests(d.Traffic)})
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-15s %s\n", r[0]+":", r[1])
	}
	switch n := len(d.Transitions); {
	case n == 0:
		b.WriteString("Transitions:    none seen by this server\n")
	default:
		fmt.Fprintf(&b, "Transitions:    last %d of %d, oldest first\n", n, d.TransitionsTotal)
		for _, t := range d.Transitions {
			line := fmt.Sprintf("  %s  %s -> %s", cmdutil.When(tty, now, t.At), t.From, t.To)
			if t.Reason != "" {
				line += "  " + t.Reason
			}
			if t.Details != "" {
				line += ": " + t.Details
			}
			b.WriteString(line + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
