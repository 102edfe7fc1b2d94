// Package version implements `oo version`.
package version

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/buildinfo"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

// NewCmd returns `oo version`.
func NewCmd(ios *iostreams.IOStreams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date of oo",
		Example: `  oo version
  oo version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			in := buildinfo.Get()
			switch output {
			case "json":
				enc := json.NewEncoder(ios.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(in)
			case "", "table", "text":
				_, err := fmt.Fprint(ios.Out, Text(in))
				return err
			default:
				return cmdutil.Usagef("unknown output format %q (use json)", output)
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}

// Text is the plain-text version report, shared by `oo version` and `oo --version`.
func Text(in buildinfo.Info) string {
	return fmt.Sprintf("oo %s\ncommit: %s\nbuilt:  %s\ngo:     %s %s\n",
		in.Version, in.Commit, in.Date, in.GoVersion, in.Platform)
}
