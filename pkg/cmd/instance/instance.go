// Package instance implements `oo instance`: the registry's running copies of services.
package instance

import (
	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

// NewCmd returns `oo instance`.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "instance",
		Aliases: []string{"instances", "inst"},
		Short:   "List, describe and remove registered service instances",
		Example: `  oo instance ls
  oo instance ls --slug skeleton-svc -o json
  oo instance describe inst_VcXqXrj1IIj6sEN50
  oo instance rm inst_VcXqXrj1IIj6sEN50`,
	}
	cmd.AddCommand(NewCmdLs(f, nil), NewCmdDescribe(f, nil), NewCmdRm(f, nil))
	return cmd
}
