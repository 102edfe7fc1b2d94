package service

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// RegisterOptions is what `oo service register` needs.
type RegisterOptions struct {
	cmdutil.Deps
	slug       string
	url        string
	healthPath string
	insecure   bool
	output     string
	// healthPathSet: --health-path was given (an empty one clears the path).
	healthPathSet bool
}

// NewCmdRegister returns `oo service register`; runF, when set, runs instead of registerRun
// (tests).
func NewCmdRegister(f *cmdutil.Factory, runF func(*RegisterOptions) error) *cobra.Command {
	o := &RegisterOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "register SLUG --url URL",
		Short: "Put an already running server behind the proxy under SLUG",
		Long: `Register the server at --url as an instance of SLUG, so that SERVER/SLUG/... reaches it.

The service account SLUG is created if it does not exist yet, with a random password kept in
the OS keyring; later commands log in with it. If the account exists and oo has no password
for it, you must be logged in as SLUG or as an admin (an admin registers on SLUG's behalf).
Flags are checked first (--url must not be the oo server itself, under any loopback name:
the proxy would loop), and when you are logged in so is the owner of --url: a URL that
another slug owns is refused before any account is created. Not logged in, oo cannot list the
registry; the account may then be created before the server refuses the URL, and is kept for
a later register of SLUG.

Running it again is safe: an instance that is already registered is updated, and only the
fields you give change. The server health-checks the instance (TCP connect, or GET of
--health-path). Undo with "oo service deregister SLUG" or "oo instance rm ID".`,
		Example: `  oo service register legacy-svc --url http://127.0.0.1:8080
  oo service register legacy-svc --url http://127.0.0.1:8080 --health-path /healthz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.slug, o.Ctx = args[0], cmd.Context()
			o.healthPathSet = cmd.Flags().Changed("health-path")
			if runF != nil {
				return runF(o)
			}
			return registerRun(o)
		},
	}
	cmd.Flags().StringVar(&o.url, "url", "", "the instance's URL, as the server reaches it (required)")
	cmd.Flags().StringVar(&o.healthPath, "health-path", "", "probe this path with GET instead of a TCP connect")
	cmd.Flags().BoolVar(&o.insecure, "insecure-storage", false, "keep the service account's password in a plain-text 0600 file instead of the OS keyring (or set OO_INSECURE_STORAGE=1)")
	cmdutil.AddOutputFlag(cmd, &o.output)
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

func registerRun(o *RegisterOptions) error {
	ctx, ios, slug := o.Ctx, o.IO, o.slug
	if err := validSlug(slug); err != nil {
		return err
	}
	if err := checkRegistration(api.RegisterInstanceRequest{URL: o.url, HealthPath: o.healthPath}); err != nil {
		return err
	}
	if err := cmdutil.CheckOutput(o.output); err != nil {
		return err
	}
	s, err := sessionFor(&o.Deps)
	if err != nil {
		return err
	}
	if err := checkNotServer(o.url, s); err != nil {
		return err
	}
	if s.Token != "" {
		// The URL may belong to another slug: say so before an account is created for nothing.
		// Without a token the registry cannot be listed, and the server's answer decides.
		owner, err := urlOwner(ctx, o.Client(&cmdutil.Session{URL: s.URL}).WithToken(s.Token), slug, o.url)
		if client.IsUnreachable(err) {
			return err
		}
		if owner != nil {
			return cmdutil.WithCode(cmdutil.ExitConflict, fmt.Errorf(
				"%s is already registered by slug %q as instance %s: register another --url, or remove it first (oo service deregister %s --url %s, as %s or an admin)",
				o.url, owner.Slug, owner.ID, owner.Slug, o.url, owner.Slug))
		}
	}
	id, err := resolveIdentity(ctx, &o.Deps, s, slug, o.insecure, true)
	if err != nil {
		return err
	}
	if id.created {
		fmt.Fprintf(ios.ErrOut, "Created service account %s (password in %s); to remove it later: oo user rm %s --remove-instances (as an admin)\n", slug, id.where, slug)
	}

	existing, err := findInstances(ctx, id.c, slug, o.url)
	if err != nil {
		return err
	}
	req := api.RegisterInstanceRequest{URL: o.url, Slug: id.forSlug()}
	var prev *api.Instance
	if len(existing) > 0 {
		prev = &existing[0]
		// The server replaces an instance's fields on PUT; carry over what was not given.
		req.HealthPath, req.HeartbeatTTL = prev.HealthPath, prev.HeartbeatTTL
		req.DeploymentID, req.Path, req.Tags = prev.DeploymentID, prev.Path, prev.Tags
	}
	if o.healthPathSet {
		req.HealthPath = o.healthPath
	}
	inst, err := id.c.RegisterInstance(ctx, req)
	if err != nil {
		err = o.Explain(s, err)
		if id.created {
			// Not logged in, the URL's owner could not be checked first.
			err = cmdutil.WithCode(cmdutil.ExitCode(err), fmt.Errorf(
				"%w (the service account %s was created and is kept: registering another --url as %s reuses it)", err, slug, slug))
		}
		return err
	}
	if inst == nil { // a server that answers {} only
		if list, lerr := findInstances(ctx, id.c, slug, o.url); lerr == nil && len(list) > 0 {
			inst = &list[0]
		} else {
			inst = &api.Instance{URL: o.url, Slug: slug, HealthPath: req.HealthPath}
		}
	}

	verb := "Registered"
	switch {
	case prev != nil && prev.HealthPath == req.HealthPath:
		verb = "Already registered (unchanged):"
	case prev != nil:
		verb = "Updated"
	}
	health := "TCP connect"
	if req.HealthPath != "" {
		health = "GET " + req.HealthPath
	}
	by := ""
	if id.onBehalf {
		by = fmt.Sprintf(" by %s on its behalf", s.Slug)
	}
	fmt.Fprintf(ios.ErrOut, "%s %s as %s (%s, health check: %s)%s\n", verb, inst.URL, slug, inst.ID, health, by)
	fmt.Fprintf(ios.ErrOut, "Reach it at %s/%s/\n", s.URL, slug)
	if cmdutil.WantJSON(o.output) {
		return cmdutil.PrintJSON(ios.Out, inst)
	}
	return nil
}
