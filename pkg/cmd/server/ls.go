package server

import (
	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/tableprinter"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// LsOptions is what `oo server ls` needs.
type LsOptions struct {
	cmdutil.Deps
	output string
}

// NewCmdLs returns `oo server ls`; runF, when set, runs instead of lsRun (tests).
func NewCmdLs(f *cmdutil.Factory, runF func(*LsOptions) error) *cobra.Command {
	if runF == nil {
		runF = lsRun
	}
	o := &LsOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the running servers (replicas) of the platform",
		Long: `List the oo servers that share this platform's state: ID, ADDRESS (what --advertise
says, default the listen address), VERSION, STARTED, and PROBER: the one replica that
health-checks the instances ("yes"). The replica that answered is marked with "*".

With the bolt store there is one. With --store etcd each replica registers itself under a
lease it keeps alive, so a replica that stops disappears from the list within the lease TTL
(5s), and the prober role moves to another replica in about as long.`,
		Example: `  oo server ls
  oo server ls -o json | jq -r '.replicas[] | select(.prober) | .address'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			return runF(o)
		},
	}
	cmdutil.AddOutputFlag(cmd, &o.output)
	return cmd
}

func lsRun(o *LsOptions) error {
	if err := cmdutil.CheckOutput(o.output); err != nil {
		return err
	}
	s, err := o.Session(true)
	if err != nil {
		return err
	}
	rsp, err := o.Client(s).ListReplicas(o.Ctx)
	if err != nil {
		return err
	}
	if cmdutil.WantJSON(o.output) {
		return cmdutil.PrintJSON(o.IO.Out, rsp)
	}
	tp := tableprinter.New(o.IO, "ID", "ADDRESS", "VERSION", "STARTED", "PROBER")
	now := o.Now()
	for _, r := range rsp.Replicas {
		tp.AddRow(replicaID(r), r.Address, r.Version, cmdutil.When(o.IO.IsStdoutTTY(), now, r.StartedAt), yes(r.Prober))
	}
	return tp.Render()
}

func replicaID(r api.Replica) string {
	if r.Self {
		return r.ID + " *"
	}
	return r.ID
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}
