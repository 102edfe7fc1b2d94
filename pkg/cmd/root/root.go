// Package root assembles the oo command tree and runs it.
package root

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmd/auth"
	"github.com/ooctl/oo/pkg/cmd/call"
	envcmd "github.com/ooctl/oo/pkg/cmd/env"
	"github.com/ooctl/oo/pkg/cmd/instance"
	"github.com/ooctl/oo/pkg/cmd/server"
	"github.com/ooctl/oo/pkg/cmd/service"
	"github.com/ooctl/oo/pkg/cmd/user"
	"github.com/ooctl/oo/pkg/cmd/version"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

const exitCodesHelp = `Exit codes:
  0  ok
  1  error
  2  usage: bad flags or arguments
  3  interrupted
  4  auth: not logged in, token expired or revoked, wrong password, forbidden
  5  not found
  6  conflict: already exists or owned by another slug
  7  the server could not be reached`

// NewCmd builds the whole command tree with the real dependencies.
func NewCmd(ios *iostreams.IOStreams) *cobra.Command {
	return NewCmdFactory(cmdutil.NewFactory(ios))
}

// NewCmdFactory builds the whole command tree on f (tests pass a factory with fakes).
func NewCmdFactory(f *cmdutil.Factory) *cobra.Command {
	ios := f.IOStreams
	cmd := &cobra.Command{
		Use:   "oo",
		Short: "Run your own services on a box",
		Long: `oo is one binary that is both a small service platform and its client.

"oo server start" runs the user service, the service registry and a reverse proxy that routes
SERVER/<slug>/... to the healthy instances owned by <slug>. Every other command talks to a
server over its HTTP API.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       "",
	}
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &cmdutil.UsageError{Err: fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	cmd.SetUsageTemplate(cmd.UsageTemplate() + "\n" + exitCodesHelp + "\n")

	cmd.PersistentFlags().StringVarP(&f.EnvFlag, "env", "e", "", "use the environment `NAME` for this command (also OO_ENV; default: the current one)")

	cmd.AddCommand(server.NewCmd(ios))
	cmd.AddCommand(version.NewCmd(ios))
	cmd.AddCommand(envcmd.NewCmd(f))
	cmd.AddCommand(auth.NewLoginCmd(f), auth.NewRegisterCmd(f), auth.NewLogoutCmd(f),
		auth.NewWhoamiCmd(f), auth.NewTokenCmd(f), auth.NewPasswdCmd(f))
	cmd.AddCommand(user.NewCmd(f))
	cmd.AddCommand(instance.NewCmd(f))
	cmd.AddCommand(call.NewCmd(f))
	cmd.AddCommand(service.NewCmd(f))
	return cmd
}

// Main runs oo with the process's arguments and streams and returns the exit code.
func Main() int {
	ios := iostreams.System()
	cmd := NewCmd(ios)
	return Execute(context.Background(), cmd, ios)
}

// Execute runs cmd and prints a failure as one line on stderr.
func Execute(ctx context.Context, cmd *cobra.Command, ios *iostreams.IOStreams) int {
	err := cmd.ExecuteContext(ctx)
	if err != nil && !cmdutil.IsSilent(err) {
		msg := err.Error()
		if isCobraUsage(msg) {
			err = &cmdutil.UsageError{Err: err}
			msg += " (see 'oo --help')"
		}
		fmt.Fprintln(ios.ErrOut, "oo: "+msg)
	}
	return cmdutil.ExitCode(err)
}

// isCobraUsage recognises the argument errors cobra raises itself (unknown command, wrong
// number of args), which it does not type.
func isCobraUsage(msg string) bool {
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "received ", "unknown shorthand", "unknown flag", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
