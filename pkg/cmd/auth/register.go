package auth

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// RegisterOptions is what `oo register` needs.
type RegisterOptions struct {
	cmdutil.Deps
	slug, name    string
	contact       string
	passwordStdin bool
	insecure      bool
}

// NewCmdRegister returns `oo register`; runF, when set, runs instead of registerRun (tests).
func NewCmdRegister(f *cmdutil.Factory, runF func(*RegisterOptions) error) *cobra.Command {
	o := &RegisterOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "register [SLUG]",
		Short: "Create an account on the current environment and log in as it",
		Long: `Create an account (a slug: lowercase letters, digits and '-') and store its first token
like "oo login" does. On a terminal the password is asked twice, hidden.`,
		Example: `  oo register alice --name "Alice Liddell"
  echo "$PASSWORD" | oo register build-bot --password-stdin`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.slug = args[0]
			}
			o.Ctx = cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return registerRun(o)
		},
	}
	cmd.Flags().StringVar(&o.name, "name", "", "display name (default: the slug)")
	cmd.Flags().StringVar(&o.contact, "email", "", "an email address to keep with the account")
	cmd.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	cmd.Flags().BoolVar(&o.insecure, "insecure-storage", false, "store the token in a plain-text 0600 file instead of the OS keyring (or set OO_INSECURE_STORAGE=1)")
	return cmd
}

func registerRun(o *RegisterOptions) error {
	s, err := o.Target()
	if err != nil {
		return err
	}
	if err := checkStoreTarget(s); err != nil {
		return err
	}
	slug, err := askSlug(&o.Deps, o.slug, !o.passwordStdin)
	if err != nil {
		return err
	}
	pw, err := newPassword(&o.Deps, o.passwordStdin, "Password for "+slug+": ")
	if err != nil {
		return err
	}
	req := api.RegisterRequest{Slug: slug, Name: o.name, Password: pw}
	if req.Name == "" {
		req.Name = slug
	}
	if o.contact != "" {
		req.Contact = &api.Contact{Platform: "email", Handle: o.contact}
	}
	tok, err := o.Client(s).Register(o.Ctx, req)
	if err != nil {
		var ce *client.Error
		if errors.As(err, &ce) && ce.Status == 403 {
			// Registration is closed. Not "(you are X)": whoever is selected is beside the point.
			return cmdutil.AsIs(err, fmt.Sprintf("registration is closed on env %s (%s): an admin creates the account with `oo user create %s`", s.Env, s.URL, slug))
		}
		if errors.As(err, &ce) && ce.Status == 409 {
			// The server's message says the same thing; say it once, with what to do.
			return cmdutil.WithCode(cmdutil.ExitConflict, fmt.Errorf("the slug %s is already taken on env %s (yours? `oo login %s`)", slug, s.Env, slug))
		}
		return err
	}
	where, err := saveToken(o.Ctx, &o.Deps, s, slug, tok.Token, o.insecure)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "Registered %s on %s (%s) and logged in; token stored in the %s\n", slug, s.Env, s.URL, where)
	return nil
}

// newPassword reads a new password; on a terminal it is asked twice so a typo does not lock
// the user out.
func newPassword(d *cmdutil.Deps, fromStdin bool, prompt string) (string, error) {
	pw, err := readPassword(d, fromStdin, prompt)
	if err != nil || fromStdin {
		return pw, err
	}
	again, err := d.IO.PromptSecret("Again: ")
	if err != nil {
		return "", promptError(err, "password")
	}
	if again != pw {
		return "", cmdutil.Usagef("the passwords do not match")
	}
	return pw, nil
}
