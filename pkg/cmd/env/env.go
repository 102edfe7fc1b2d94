// Package env implements `oo env`: the named servers the client knows and which one is in use.
package env

import (
	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

// NewCmd returns `oo env`.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Manage environments: the oo servers this client talks to",
		Long: `An environment is a name for an oo server URL, plus the accounts logged in to it.
"local" (http://127.0.0.1:58231) always exists. Pick one for a single command with -e NAME
(or OO_ENV), for good with "oo env use NAME"; OO_URL overrides the URL for one command.

Environments live in $XDG_CONFIG_HOME/oo/config.json; tokens never do (they are in the OS
keyring, or in a separate 0600 file if you chose --insecure-storage at login).`,
		Example: `  oo env add staging https://oo.staging.example.com --description "shared staging"
  oo env use staging
  oo env ls
  oo instance ls -e local`,
	}
	cmd.AddCommand(NewCmdAdd(f, nil), NewCmdLs(f, nil), NewCmdUse(f, nil), NewCmdRm(f, nil), NewCmdCurrent(f, nil))
	return cmd
}
