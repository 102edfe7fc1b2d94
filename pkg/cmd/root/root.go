// Package root assembles the oo command tree and runs it.
package root

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/pkg/buildinfo"
	"github.com/ooctl/oo/pkg/cmd/auth"
	"github.com/ooctl/oo/pkg/cmd/call"
	envcmd "github.com/ooctl/oo/pkg/cmd/env"
	"github.com/ooctl/oo/pkg/cmd/instance"
	"github.com/ooctl/oo/pkg/cmd/logs"
	"github.com/ooctl/oo/pkg/cmd/server"
	"github.com/ooctl/oo/pkg/cmd/service"
	"github.com/ooctl/oo/pkg/cmd/top"
	"github.com/ooctl/oo/pkg/cmd/user"
	"github.com/ooctl/oo/pkg/cmd/version"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

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
		Example: `  oo server start &                          # the platform on 127.0.0.1:58231
  oo service run --slug hello -- python3 app.py   # run a service behind the proxy
  curl 127.0.0.1:58231/hello/                # reach it through the proxy
  oo login admin && oo instance ls           # see what is registered`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       "",
	}
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)
	// The hint is added here once; Execute leaves a usage error's message alone.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return cmdutil.Usage(fmt.Errorf("%w (see '%s --help')", err, c.CommandPath()))
	})
	// --version prints what `oo version` does. Cobra adds the flag only with a Version set.
	info := buildinfo.Get()
	cmd.Version = info.Version
	if cmd.Version == "" {
		cmd.Version = "devel"
	}
	cmd.SetVersionTemplate(version.Text(info))

	cmd.PersistentFlags().StringVarP(&f.EnvFlag, "env", "e", "", "use the environment `NAME` for this command (also OO_ENV; default: the current one)")

	cmd.AddCommand(server.NewCmd(f))
	cmd.AddCommand(version.NewCmd(f, nil))
	cmd.AddCommand(envcmd.NewCmd(f))
	cmd.AddCommand(auth.NewCmdLogin(f, nil), auth.NewCmdRegister(f, nil), auth.NewCmdLogout(f, nil),
		auth.NewCmdWhoami(f, nil), auth.NewCmdToken(f, nil), auth.NewCmdPasswd(f, nil))
	cmd.AddCommand(user.NewCmd(f))
	cmd.AddCommand(instance.NewCmd(f))
	cmd.AddCommand(call.NewCmd(f, nil))
	cmd.AddCommand(logs.NewCmd(f, nil))
	cmd.AddCommand(service.NewCmd(f))
	cmd.AddCommand(top.NewCmd(f, nil))
	cmd.InitDefaultCompletionCmd() // now, so that the walks below reach it
	addCompletionExamples(cmd)
	setUsageTemplates(cmd)
	rejectStrayArgs(cmd)
	for _, c := range cmd.Commands() {
		switch c.Name() {
		case "server", "version", "completion", "help":
			hideEnvFlag(c)
		}
	}
	addJQFlags(cmd, ios)
	addCompletions(cmd, f)
	addHelpTopics(cmd) // last: it reads the finished tree
	return cmd
}

// hideEnvFlag keeps the global -e out of the help of commands it means nothing to (the server,
// version, completion): a hidden local flag of the same name shadows the inherited one, and
// still accepts it, so `oo version -e x` is not an error.
func hideEnvFlag(c *cobra.Command) {
	var ignored string
	c.Flags().StringVarP(&ignored, "env", "e", "", "ignored")
	_ = c.Flags().MarkHidden("env")
	for _, sub := range c.Commands() {
		hideEnvFlag(sub)
	}
}

// setUsageTemplates shows the exit codes once, under `oo --help`, and a pointer to them on
// every other command's help.
func setUsageTemplates(root *cobra.Command) {
	base := root.UsageTemplate()
	root.SetUsageTemplate(base + "\nExit codes (oo help exit-codes):\n" + ExitCodesText() + "\n")
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			sub.SetUsageTemplate(base + "\nExit codes: see 'oo help exit-codes'.\n")
			walk(sub)
		}
	}
	walk(root)
}

// Main runs oo with the process's arguments and streams and returns the exit code.
func Main() int {
	f := cmdutil.NewFactory(iostreams.System())
	return Execute(context.Background(), f, NewCmdFactory(f))
}

// Execute runs cmd, the tree NewCmdFactory built on f, and prints a failure as one line on
// stderr. API errors are worded here, once for every command (explain).
func Execute(ctx context.Context, f *cmdutil.Factory, cmd *cobra.Command) int {
	ios := f.IOStreams
	c, err := cmd.ExecuteContextC(ctx)
	if err == nil {
		err = strayArgsError(cmd)
	}
	err = usageError(c, explain(f, err))
	if err != nil && !cmdutil.IsSilent(err) {
		fmt.Fprintln(ios.ErrOut, "oo: "+message(err))
	}
	return cmdutil.ExitCode(err)
}

// explain words an API error a command returned for the session it ran in. The session is
// resolved again here, from the same config, environment and credential store the command read
// (commands keep theirs to themselves), and only when there is an API error to word.
func explain(f *cmdutil.Factory, err error) error {
	if !cmdutil.NeedsExplaining(err) {
		return err
	}
	s, serr := f.Session(false)
	if serr != nil {
		s = nil
	}
	return f.Explain(s, err)
}

// message is err's text, with internal/config's unknown-environment error worded for people
// ("known: local, rev" rather than a Go slice).
func message(err error) string {
	var ue *config.UnknownEnvError
	if errors.As(err, &ue) && err.Error() == ue.Error() {
		return fmt.Sprintf("no environment named %q (known: %s; add one with `oo env add NAME URL`)", ue.Name, strings.Join(ue.Known, ", "))
	}
	return err.Error()
}

// addCompletionExamples gives cobra's generated completion commands the examples every other
// command has: how to load the script now and how to install it for good.
func addCompletionExamples(root *cobra.Command) {
	examples := map[string]string{
		"bash": `  source <(oo completion bash)
  oo completion bash > ~/.local/share/bash-completion/completions/oo`,
		"zsh": `  source <(oo completion zsh)
  oo completion zsh > "${fpath[1]}/_oo"`,
		"fish": `  oo completion fish | source
  oo completion fish > ~/.config/fish/completions/oo.fish`,
		"powershell": `  oo completion powershell | Out-String | Invoke-Expression`,
	}
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Example = "  oo completion bash > ~/.local/share/bash-completion/completions/oo\n  oo completion zsh > \"${fpath[1]}/_oo\""
		for _, sub := range c.Commands() {
			sub.Example = examples[sub.Name()]
		}
	}
}
