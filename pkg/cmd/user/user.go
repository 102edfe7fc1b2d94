// Package user implements `oo user`: accounts on the server (admin) and switching between the
// accounts logged in locally.
package user

import (
	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

// NewCmd returns `oo user`.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage accounts: list, create and remove them (admin), switch between your own",
		Example: `  oo user ls
  oo user create bob --password-stdin < bob.pass
  oo user rm bob
  oo user switch bob`,
	}
	cmd.AddCommand(NewCmdLs(f, nil), NewCmdCreate(f, nil), NewCmdRm(f, nil), NewCmdSwitch(f, nil))
	return cmd
}
