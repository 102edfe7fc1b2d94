package user

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/tableprinter"
	"github.com/ooctl/oo/pkg/cmdutil"
)

type lsOptions struct {
	f      *cmdutil.Factory
	output string
	limit  int
}

func newLsCmd(f *cmdutil.Factory) *cobra.Command {
	o := &lsOptions{f: f}
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the server's accounts (admin only)",
		Example: `  oo user ls
  oo user ls --limit 10 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runLs(cmd, o) },
	}
	cmdutil.AddOutputFlag(cmd, &o.output)
	cmd.Flags().IntVar(&o.limit, "limit", 0, "at most this many accounts (default: the server's)")
	return cmd
}

func runLs(cmd *cobra.Command, o *lsOptions) error {
	if err := cmdutil.CheckOutput(o.output); err != nil {
		return err
	}
	if o.limit < 0 {
		return cmdutil.Usagef("--limit must not be negative")
	}
	s, err := o.f.Session(true)
	if err != nil {
		return err
	}
	rsp, err := o.f.Client(s).ListUsers(cmd.Context(), o.limit)
	if err != nil {
		return err
	}
	if cmdutil.WantJSON(o.output) {
		return cmdutil.PrintJSON(o.f.IOStreams.Out, rsp)
	}
	tp := tableprinter.New(o.f.IOStreams, "ID", "SLUG", "NAME", "ROLES", "CREATED")
	now := o.f.Clock()
	for _, u := range rsp.Users {
		created := "-"
		if !u.CreatedAt.IsZero() {
			created = cmdutil.Age(now, u.CreatedAt)
			if !o.f.IOStreams.IsStdoutTTY() {
				created = u.CreatedAt.UTC().Format(time.RFC3339)
			}
		}
		tp.AddRow(u.ID, u.Slug, u.Name, strings.Join(u.Roles, ","), created)
	}
	return tp.Render()
}
