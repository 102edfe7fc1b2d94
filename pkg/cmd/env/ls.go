package env

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/tableprinter"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// Entry is one environment as `oo env ls -o json` prints it.
type Entry struct {
	Name        string   `json:"name"`
	URL         string   `json:"url"`
	Description string   `json:"description,omitempty"`
	Current     bool     `json:"current"`
	User        string   `json:"user,omitempty"`
	Accounts    []string `json:"accounts"`
}

// LsOptions is what `oo env ls` needs.
type LsOptions struct {
	cmdutil.Deps
	Output string
}

// NewCmdLs returns `oo env ls`; runF, when set, runs instead of lsRun (tests).
func NewCmdLs(f *cmdutil.Factory, runF func(*LsOptions) error) *cobra.Command {
	o := &LsOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List environments; * marks the current one",
		Example: `  oo env ls
  oo env ls -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return lsRun(o)
		},
	}
	cmdutil.AddOutputFlag(cmd, &o.Output)
	return cmd
}

func lsRun(o *LsOptions) error {
	if err := cmdutil.CheckOutput(o.Output); err != nil {
		return err
	}
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	current, err := o.EnvName()
	if err != nil {
		return err
	}
	var entries []Entry
	for _, n := range cfg.Names() {
		e := cfg.Environments[n]
		entries = append(entries, Entry{Name: n, URL: e.URL, Description: e.Description, Current: n == current, User: e.User, Accounts: e.Slugs()})
	}
	if cmdutil.WantJSON(o.Output) {
		return cmdutil.PrintJSON(o.IO.Out, map[string]any{"environments": entries})
	}
	tp := tableprinter.New(o.IO, "CURRENT", "NAME", "URL", "USER", "ACCOUNTS", "DESCRIPTION")
	for _, e := range entries {
		mark := ""
		if e.Current {
			mark = "*"
		}
		user := e.User
		if user == "" {
			user = "-"
		}
		tp.AddRow(mark, e.Name, e.URL, user, strings.Join(e.Accounts, ","), e.Description)
	}
	return tp.Render()
}
