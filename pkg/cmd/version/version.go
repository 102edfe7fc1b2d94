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

// Options is what `oo version` needs.
type Options struct {
	IO     *iostreams.IOStreams
	Output string
	Info   func() buildinfo.Info
}

// NewCmd returns `oo version`; runF, when set, runs instead of versionRun (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Info: buildinfo.Get}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date of oo",
		Example: `  oo version
  oo version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "output format: json")
	return cmd
}

func versionRun(opts *Options) error {
	in := opts.Info()
	switch opts.Output {
	case "json":
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(in)
	case "", "table", "text":
		_, err := fmt.Fprint(opts.IO.Out, Text(in))
		return err
	default:
		return cmdutil.Usagef("unknown output format %q (use json)", opts.Output)
	}
}

// Text is the plain-text version report, shared by `oo version` and `oo --version`.
func Text(in buildinfo.Info) string {
	return fmt.Sprintf("oo %s\ncommit: %s\nbuilt:  %s\ngo:     %s %s\n",
		in.Version, in.Commit, in.Date, in.GoVersion, in.Platform)
}
