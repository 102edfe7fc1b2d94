package user

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/tableprinter"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// LsOptions is what `oo user ls` needs.
type LsOptions struct {
	cmdutil.Deps
	output string
	limit  int
}

// NewCmdLs returns `oo user ls`; runF, when set, runs instead of lsRun (tests).
func NewCmdLs(f *cmdutil.Factory, runF func(*LsOptions) error) *cobra.Command {
	o := &LsOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the server's accounts (admin only)",
		Example: `  oo user ls
  oo user ls --limit 10 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return lsRun(o)
		},
	}
	cmdutil.AddOutputFlag(cmd, &o.output)
	cmd.Flags().IntVar(&o.limit, "limit", 0, "at most this many accounts (default: the server's)")
	return cmd
}

func lsRun(o *LsOptions) error {
	if err := cmdutil.CheckOutput(o.output); err != nil {
		return err
	}
	if o.limit < 0 {
		return cmdutil.Usagef("--limit must not be negative")
	}
	s, err := o.Session(true)
	if err != nil {
		return err
	}
	rsp, err := o.Client(s).ListUsers(o.Ctx, o.limit)
	if err != nil {
		return err
	}
	if cmdutil.WantJSON(o.output) {
		return cmdutil.PrintJSON(o.IO.Out, rsp)
	}
	tp := tableprinter.New(o.IO, "ID", "SLUG", "NAME", "ROLES", "CREATED")
	now := o.Now()
	for _, u := range rsp.Users {
		tp.AddRow(u.ID, u.Slug, u.Name, strings.Join(u.Roles, ","), cmdutil.When(o.IO.IsStdoutTTY(), now, u.CreatedAt))
	}
	return tp.Render()
}
