package root

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// addHelpTopics adds `oo help environment` and `oo help exit-codes`. Cobra lists commands with
// neither Run nor subcommands as "Additional help topics". They are built from the tree and the
// tables in pkg/api and pkg/cmdutil, so they cannot drift from what the code reads.
func addHelpTopics(root *cobra.Command) {
	root.AddCommand(&cobra.Command{
		Use:     "environment",
		Short:   "Environment variables the CLI, the server and services read",
		Long:    EnvironmentHelp(root),
		Example: "  oo help environment\n  OO_URL=http://127.0.0.1:9000 OO_TOKEN=$(cat token) oo instance ls",
	})
	root.AddCommand(&cobra.Command{
		Use:     "exit-codes",
		Short:   "What each exit status of oo means",
		Long:    "Every oo command exits with one of these codes; scripts can rely on them.\n\n" + ExitCodesText(),
		Example: "  oo help exit-codes\n  oo instance rm \"$id\"; [ $? -eq 5 ] && echo \"already gone\"",
	})
}

// ExitCodesText is the exit-code table, one line per code.
func ExitCodesText() string {
	var b strings.Builder
	for _, c := range cmdutil.ExitCodes {
		fmt.Fprintf(&b, "  %d  %s\n", c.Code, c.Doc)
	}
	return strings.TrimRight(b.String(), "\n")
}

// EnvironmentHelp lists the client variables of api.ClientEnv and, from the flags of
// `oo server start`, every server variable with the flag it sets.
func EnvironmentHelp(root *cobra.Command) string {
	var b strings.Builder
	b.WriteString("Variables read by oo. A flag given on the command line wins over its variable.\n")
	for _, who := range []string{"client", "service"} {
		title := map[string]string{
			"client":  "Client commands and the Go SDK",
			"service": "Given by `oo service run` to the program it starts",
		}[who]
		fmt.Fprintf(&b, "\n%s:\n", title)
		for _, v := range api.ClientEnv {
			if strings.Contains(v.Who, who) {
				fmt.Fprintf(&b, "  %-26s %s\n", v.Name, v.Doc)
			}
		}
	}
	b.WriteString("\nThe server (oo server start):\n")
	for _, v := range api.ClientEnv {
		if v.Who == "server" {
			fmt.Fprintf(&b, "  %-26s %s\n", v.Name, v.Doc)
		}
	}
	for _, sv := range ServerEnv(root) {
		fmt.Fprintf(&b, "  %-26s the default of --%s\n", sv.Name, sv.Flag)
	}
	return strings.TrimRight(b.String(), "\n")
}

// ServerFlagEnv is a server variable and the flag it gives the default of.
type ServerFlagEnv struct{ Name, Flag string }

var envInUsage = regexp.MustCompile(`\((OO_[A-Z0-9_]+)\)\s*$`)

// ServerEnv finds the variable each flag of `oo server start` names at the end of its help.
func ServerEnv(root *cobra.Command) []ServerFlagEnv {
	start, _, err := root.Find([]string{"server", "start"})
	if err != nil || start == nil || start.Name() != "start" {
		return nil
	}
	var out []ServerFlagEnv
	start.Flags().VisitAll(func(f *pflag.Flag) {
		if m := envInUsage.FindStringSubmatch(f.Usage); m != nil {
			out = append(out, ServerFlagEnv{m[1], f.Name})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
