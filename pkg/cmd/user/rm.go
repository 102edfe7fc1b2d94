package user

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

type rmOptions struct {
	f               *cmdutil.Factory
	slug            string
	removeInstances bool
}

func newRmCmd(f *cmdutil.Factory) *cobra.Command {
	o := &rmOptions{f: f}
	cmd := &cobra.Command{
		Use:     "rm SLUG",
		Aliases: []string{"remove", "delete"},
		Short:   "Remove an account and revoke its tokens (admin)",
		Long: `Remove an account from the server (admin only). Every token of the account stops working at
once and its slug becomes free to register again.

An account that still owns instances is refused (exit 6): its routes would outlive the only
account allowed to change them. Stop the service and remove them first, or pass
--remove-instances to remove them with the account. You cannot remove your own account.`,
		Example: `  oo user rm old-svc
  oo user rm old-svc --remove-instances`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.slug = args[0]
			return rmRun(cmd, o)
		},
	}
	cmd.Flags().BoolVar(&o.removeInstances, "remove-instances", false, "also deregister the instances the account owns")
	return cmd
}

func rmRun(cmd *cobra.Command, o *rmOptions) error {
	f := o.f
	s, err := f.Session(true)
	if err != nil {
		return err
	}
	if err := f.Client(s).RemoveUser(cmd.Context(), o.slug, o.removeInstances); err != nil {
		return err
	}
	fmt.Fprintf(f.IOStreams.ErrOut, "Removed account %s from %s\n", o.slug, s.URL)
	forgetLocal(f, s.Env, o.slug)
	return nil
}

// forgetLocal drops a local login of the removed account on env: its token can never work again.
func forgetLocal(f *cmdutil.Factory, env, slug string) {
	cfg, err := f.Config()
	if err != nil || !cfg.HasAccount(env, slug) {
		return
	}
	acct := cfg.Environments[env].Accounts[slug]
	_ = f.Store(acct.Storage).Delete(env, slug)
	cfg.RemoveAccount(env, slug)
	if err := cfg.Save(); err == nil {
		fmt.Fprintf(f.IOStreams.ErrOut, "Forgot the local login of %s on env %s\n", slug, env)
	}
}
