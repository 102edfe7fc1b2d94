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

type lsOptions struct {
	f      *cmdutil.Factory
	output string
}

func newLsCmd(f *cmdutil.Factory) *cobra.Command {
	o := &lsOptions{f: f}
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List environments; * marks the current one",
		Example: `  oo env ls
  oo env ls -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runLs(o) },
	}
	cmdutil.AddOutputFlag(cmd, &o.output)
	return cmd
}

func runLs(o *lsOptions) error {
	if err := cmdutil.CheckOutput(o.output); err != nil {
		return err
	}
	cfg, err := o.f.Config()
	if err != nil {
		return err
	}
	current, err := o.f.EnvName()
	if err != nil {
		return err
	}
	var entries []Entry
	for _, n := range cfg.Names() {
		e := cfg.Environments[n]
		entries = append(entries, Entry{Name: n, URL: e.URL, Description: e.Description, Current: n == current, User: e.User, Accounts: e.Slugs()})
	}
	if cmdutil.WantJSON(o.output) {
		return cmdutil.PrintJSON(o.f.IOStreams.Out, map[string]any{"environments": entries})
	}
	tp := tableprinter.New(o.f.IOStreams, "CURRENT", "NAME", "URL", "USER", "ACCOUNTS", "DESCRIPTION")
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
