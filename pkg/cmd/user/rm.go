package user

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

// RmOptions is what `oo user rm` needs.
type RmOptions struct {
	cmdutil.Deps
	slug            string
	removeInstances bool
}

// NewCmdRm returns `oo user rm`; runF, when set, runs instead of rmRun (tests).
func NewCmdRm(f *cmdutil.Factory, runF func(*RmOptions) error) *cobra.Command {
	o := &RmOptions{Deps: f.Deps()}
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
			o.slug, o.Ctx = args[0], cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return rmRun(o)
		},
	}
	cmd.Flags().BoolVar(&o.removeInstances, "remove-instances", false, "also deregister the instances the account owns")
	return cmd
}

func rmRun(o *RmOptions) error {
	s, err := o.Session(true)
	if err != nil {
		return err
	}
	if err := o.Client(s).RemoveUser(o.Ctx, o.slug, o.removeInstances); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "Removed account %s from %s\n", o.slug, s.URL)
	forgetLocal(o, s.Env, o.slug)
	return nil
}

// forgetLocal drops a local login of the removed account on env: its token can never work again.
func forgetLocal(o *RmOptions, env, slug string) {
	cfg, err := o.Config()
	if err != nil || !cfg.HasAccount(env, slug) {
		return
	}
	acct := cfg.Environments[env].Accounts[slug]
	_ = o.Store(acct.Storage).Delete(env, slug)
	cfg.RemoveAccount(env, slug)
	if err := cfg.Save(); err == nil {
		fmt.Fprintf(o.IO.ErrOut, "Forgot the local login of %s on env %s\n", slug, env)
	}
}
