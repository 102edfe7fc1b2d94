package user

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

// CreateOptions is what `oo user create` needs.
type CreateOptions struct {
	cmdutil.Deps
	slug, name    string
	admin         bool
	passwordStdin bool
	output        string
}

// NewCmdCreate returns `oo user create`; runF, when set, runs instead of createRun (tests).
func NewCmdCreate(f *cmdutil.Factory, runF func(*CreateOptions) error) *cobra.Command {
	o := &CreateOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "create SLUG",
		Short: "Create an account (admin only; works when registration is closed)",
		Long: `Create an account as an admin. The new user is not logged in here; they log in with
"oo login SLUG".`,
		Example: `  oo user create bob --name "Bob"
  echo "$PASS" | oo user create deploy-bot --password-stdin
  oo user create carol --admin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.slug, o.Ctx = args[0], cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return createRun(o)
		},
	}
	cmd.Flags().StringVar(&o.name, "name", "", "display name (default: the slug)")
	cmd.Flags().BoolVar(&o.admin, "admin", false, "give the account the admin role")
	cmd.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "read the new account's password from stdin")
	cmdutil.AddOutputFlag(cmd, &o.output)
	return cmd
}

func createRun(o *CreateOptions) error {
	if err := cmdutil.CheckOutput(o.output); err != nil {
		return err
	}
	s, err := o.Session(true)
	if err != nil {
		return err
	}
	ios := o.IO
	var pw string
	switch {
	case o.passwordStdin:
		pw, _ = ios.ReadLine()
	case ios.CanPrompt():
		if pw, err = ios.PromptSecret("Password for " + o.slug + ": "); err != nil {
			return noAnswer(err)
		}
		again, err := ios.PromptSecret("Again: ")
		if err != nil {
			return noAnswer(err)
		}
		if again != pw {
			return cmdutil.Usagef("the passwords do not match")
		}
	default:
		return cmdutil.Usagef("no terminal to ask for the password: pipe it in with --password-stdin")
	}
	if pw == "" {
		return cmdutil.Usagef("empty password")
	}
	req := api.CreateUserRequest{Slug: o.slug, Name: o.name, Password: pw, Roles: []string{api.RoleUser}}
	if req.Name == "" {
		req.Name = o.slug
	}
	if o.admin {
		req.Roles = append(req.Roles, api.RoleAdmin)
	}
	u, err := o.Client(s).CreateUser(o.Ctx, req)
	if err != nil {
		return err
	}
	if cmdutil.WantJSON(o.output) {
		return cmdutil.PrintJSON(ios.Out, api.CreateUserResponse{User: *u})
	}
	fmt.Fprintf(ios.ErrOut, "Created %s (%s) on %s; they log in with `oo login %s`\n", u.Slug, u.ID, s.Env, u.Slug)
	return nil
}

// noAnswer turns input that ended at the password prompt (^D) into a usage error that says
// so; Ctrl-C passes unchanged and exits as interrupted.
func noAnswer(err error) error {
	if errors.Is(err, iostreams.ErrNoInput) {
		return cmdutil.Usagef("no password given (input ended at the prompt)")
	}
	return err
}
