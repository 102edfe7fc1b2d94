package auth

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

// NewTokenCmd returns `oo token`.
func NewTokenCmd(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "token",
		Short: "Print the bearer token of the selected account, for scripts",
		Example: `  curl -H "Authorization: Bearer $(oo token)" http://127.0.0.1:58231/registry-svc/instances
  OO_TOKEN=$(oo token -e staging) ./deploy.sh`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.Session(true)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(f.IOStreams.Out, s.Token)
			return err
		},
	}
}
