package root

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// completionTimeout bounds the server call behind a <TAB>: a slow or absent server must cost
// the shell a moment, not a hang.
const completionTimeout = 2 * time.Second

type completer func(f *cmdutil.Factory, cmd *cobra.Command, args []string, toComplete string) []string

// argCompletions says what <TAB> offers for the arguments of each command, by command path.
// Completion is wired here, in one table, so every command gets the same fixed behaviour (no
// file names, filtered by prefix, quiet on errors).
var argCompletions = map[string]completer{
	"oo env use":            envNames,
	"oo env rm":             envNames,
	"oo user switch":        accountSlugs,
	"oo login":              accountSlugs,
	"oo logout":             accountSlugs,
	"oo instance rm":        instanceIDs,
	"oo instance describe":  instanceIDs,
	"oo user rm":            userSlugs,
	"oo service deregister": instanceSlugs,
	"oo service register":   instanceSlugs,
	"oo logs":               instanceSlugs,
}

// flagCompletions lists what <TAB> offers for flag values: fixed choices, or a completer.
var flagCompletions = map[string]any{
	"env":          completer(envNames),
	"output":       []string{"json"},
	"registration": []string{"open", "closed"},
	"metrics":      []string{"local", "open", "admin", "off"},
	"log-format":   []string{"text", "json"},
	"log-level":    []string{"debug", "info", "warn", "error"},
	"restart":      []string{"no", "on-failure", "always"},
	"slug":         completer(instanceSlugs),
}

// addCompletions attaches argCompletions and flagCompletions to the tree under c.
func addCompletions(c *cobra.Command, f *cmdutil.Factory) {
	for _, sub := range c.Commands() {
		addCompletions(sub, f)
	}
	if fn, ok := argCompletions[c.CommandPath()]; ok {
		c.ValidArgsFunction = dynamic(f, fn, true)
	}
	for name, what := range flagCompletions {
		fl := c.LocalNonPersistentFlags().Lookup(name)
		if fl == nil {
			fl = c.PersistentFlags().Lookup(name)
		}
		if fl == nil || fl.Hidden {
			continue
		}
		var fn cobra.CompletionFunc
		switch w := what.(type) {
		case []string:
			fn = dynamic(f, func(*cmdutil.Factory, *cobra.Command, []string, string) []string { return w }, false)
		case completer:
			fn = dynamic(f, w, false)
		}
		_ = c.RegisterFlagCompletionFunc(name, fn)
	}
}

// dynamic wraps a completer: offers only candidates starting with what was typed, never file
// names, and (for arguments) nothing already given on the line.
func dynamic(f *cmdutil.Factory, fn completer, skipGiven bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		given := map[string]bool{}
		if skipGiven {
			for _, a := range args {
				given[a] = true
			}
		}
		var out []cobra.Completion
		for _, cand := range fn(f, cmd, args, toComplete) {
			value, _, _ := strings.Cut(cand, "\t")
			if strings.HasPrefix(value, toComplete) && !given[value] {
				out = append(out, cand)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func envNames(f *cmdutil.Factory, _ *cobra.Command, _ []string, _ string) []string {
	cfg, err := f.Config()
	if err != nil {
		return nil
	}
	var out []string
	for name, e := range cfg.Environments {
		out = append(out, name+"\t"+e.URL)
	}
	sort.Strings(out)
	return out
}

func accountSlugs(f *cmdutil.Factory, _ *cobra.Command, _ []string, _ string) []string {
	cfg, err := f.Config()
	if err != nil {
		return nil
	}
	name, err := f.EnvName()
	if err != nil {
		return nil
	}
	e, err := cfg.Env(name)
	if err != nil {
		return nil
	}
	out := e.Slugs()
	sort.Strings(out)
	return out
}

// instances asks the selected server for its instances, bounded by completionTimeout.
func instances(f *cmdutil.Factory, cmd *cobra.Command) []instanceRow {
	s, err := f.Session(false)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(contextOf(cmd), completionTimeout)
	defer cancel()
	list, err := f.Client(s).ListInstances(ctx, client.InstanceFilter{})
	if err != nil {
		return nil
	}
	rows := make([]instanceRow, 0, len(list))
	for _, in := range list {
		rows = append(rows, instanceRow{id: in.ID, url: in.URL, slug: in.Slug, status: string(in.Status)})
	}
	return rows
}

type instanceRow struct{ id, url, slug, status string }

func instanceIDs(f *cmdutil.Factory, cmd *cobra.Command, _ []string, _ string) []string {
	var out []string
	for _, in := range instances(f, cmd) {
		out = append(out, in.id+"\t"+in.slug+" "+in.url+" "+in.status)
	}
	return out
}

func instanceSlugs(f *cmdutil.Factory, cmd *cobra.Command, _ []string, _ string) []string {
	seen := map[string]bool{}
	var out []string
	for _, in := range instances(f, cmd) {
		if in.slug != "" && !seen[in.slug] {
			seen[in.slug] = true
			out = append(out, in.slug)
		}
	}
	sort.Strings(out)
	return out
}

func contextOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// userSlugs lists the server's accounts; only an admin may, so for others it offers nothing.
func userSlugs(f *cmdutil.Factory, cmd *cobra.Command, _ []string, _ string) []string {
	s, err := f.Session(false)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(contextOf(cmd), completionTimeout)
	defer cancel()
	rsp, err := f.Client(s).ListUsers(ctx, 0)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(rsp.Users))
	for _, u := range rsp.Users {
		out = append(out, u.Slug+"\t"+u.Name)
	}
	return out
}
