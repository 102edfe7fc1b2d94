package service

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// DeregisterOptions is what `oo service deregister` needs.
type DeregisterOptions struct {
	cmdutil.Deps
	slug     string
	url      string
	insecure bool
}

// NewCmdDeregister returns `oo service deregister`; runF, when set, runs instead of
// deregisterRun (tests).
func NewCmdDeregister(f *cmdutil.Factory, runF func(*DeregisterOptions) error) *cobra.Command {
	o := &DeregisterOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:     "deregister SLUG [--url URL]",
		Aliases: []string{"unregister"},
		Short:   "Remove SLUG's instances from the registry",
		Long: `Remove the instance of SLUG at --url, or every instance of SLUG without --url. The service
account and its stored password stay, so registering again later reuses them. Acts as the
service account when oo holds its password, else as the logged-in user (SLUG or an admin).
Running it again is safe: with nothing registered it says so and exits 0.`,
		Example: `  oo service deregister legacy-svc --url http://127.0.0.1:8080
  oo service deregister legacy-svc`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.slug, o.Ctx = args[0], cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return deregisterRun(o)
		},
	}
	cmd.Flags().StringVar(&o.url, "url", "", "only the instance at this URL")
	cmd.Flags().BoolVar(&o.insecure, "insecure-storage", false, "read the service account's password from the plain-text file (as stored with --insecure-storage or OO_INSECURE_STORAGE=1)")
	return cmd
}

func deregisterRun(o *DeregisterOptions) error {
	ctx := o.Ctx
	slug := o.slug
	if err := validSlug(slug); err != nil {
		return err
	}
	if o.url != "" {
		if err := checkRegistration(api.RegisterInstanceRequest{URL: o.url}); err != nil {
			return err
		}
	}
	s, err := sessionFor(&o.Deps)
	if err != nil {
		return err
	}
	id, err := resolveIdentity(ctx, &o.Deps, s, slug, o.insecure, false)
	if err != nil {
		return err
	}
	list, err := findInstances(ctx, id.c, slug, o.url)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		what := "no instances of " + slug + " are registered"
		if o.url != "" {
			what = fmt.Sprintf("%s is not registered as %s", o.url, slug)
		}
		// Like a re-run of register, a re-run of deregister is safe: the goal is met.
		fmt.Fprintf(o.IO.ErrOut, "%s: nothing to deregister\n", what)
		return nil
	}
	for _, in := range list {
		if err := id.c.DeleteInstance(ctx, in.ID); err != nil {
			return err
		}
		fmt.Fprintf(o.IO.ErrOut, "Deregistered %s (%s) from %s\n", in.URL, in.ID, slug)
	}
	return nil
}
