package root

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

// Cobra raises its own argument errors as untyped strings ("accepts 2 arg(s), received 1").
// usageError rewrites them, for every command in the tree (pkg/cmd/service included), into one
// line that names what is missing and points once to the command's --help.
func usageError(c *cobra.Command, err error) error {
	if err == nil || c == nil || cmdutil.HasCode(err) {
		return err
	}
	msg := err.Error()
	var out string
	switch {
	case strings.HasPrefix(msg, "unknown command "):
		out = unknownCommand(c, msg)
	case strings.HasPrefix(msg, "required flag(s) "):
		out = fmt.Sprintf("%s needs %s", c.CommandPath(), requiredFlags(msg))
	case isArgCountError(msg):
		out = argsMessage(c, len(c.Flags().Args()))
	default:
		return err
	}
	return cmdutil.Usagef("%s (see '%s --help')", out, c.CommandPath())
}

// isArgCountError recognises cobra's positional-argument validators (ExactArgs, MinimumNArgs,
// MaximumNArgs, RangeArgs).
func isArgCountError(msg string) bool {
	for _, p := range []string{"accepts ", "requires at least ", "requires at most ", "received "} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// unknownCommand: an unknown subcommand of a group, or an argument to a command that takes
// none (cobra.NoArgs words both as "unknown command"). Suggestions are kept on the same line.
func unknownCommand(c *cobra.Command, msg string) string {
	first, rest, _ := strings.Cut(msg, "\n")
	name := strings.TrimPrefix(first, "unknown command ")
	name = name[:strings.Index(name+" for", " for")]
	if !c.HasAvailableSubCommands() {
		return fmt.Sprintf("%s takes no arguments, got %s", c.CommandPath(), name)
	}
	out := fmt.Sprintf("%s has no command %s", c.CommandPath(), name)
	if s := strings.Fields(strings.TrimPrefix(strings.TrimSpace(rest), "Did you mean this?")); len(s) > 0 {
		out += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
	}
	return out
}

var quoted = regexp.MustCompile(`"([^"]+)"`)

// requiredFlags turns `required flag(s) "url", "x" not set` into "--url and --x".
func requiredFlags(msg string) string {
	var names []string
	for _, m := range quoted.FindAllStringSubmatch(msg, -1) {
		names = append(names, "--"+m[1])
	}
	return strings.Join(names, " and ")
}

// argsMessage says what c takes, from the placeholders in its Use line ("add NAME URL",
// "rm ID...", "login [SLUG]"), given that n arguments did not fit.
func argsMessage(c *cobra.Command, n int) string {
	required, optional := placeholders(c.Use)
	path := c.CommandPath()
	switch {
	case len(required) == 0 && len(optional) == 0:
		return fmt.Sprintf("%s takes no arguments", path)
	case n < len(required):
		return fmt.Sprintf("%s needs %s", path, joinNames(required))
	default:
		all := append(append([]string(nil), required...), optional...)
		return fmt.Sprintf("%s takes only %s, got %d arguments", path, joinNames(all), n)
	}
}

// placeholders splits a Use line's arguments into required and optional ones, skipping the
// command name, flags ("--url URL") and "[flags]".
func placeholders(use string) (required, optional []string) {
	fields := strings.Fields(use)
	for i := 1; i < len(fields); i++ {
		f := fields[i]
		switch {
		case f == "--":
			// The end of flags ("run [flags] -- COMMAND [ARGS...]"); what follows is arguments.
		case strings.HasPrefix(f, "["):
			for !strings.HasSuffix(fields[i], "]") && i+1 < len(fields) {
				i++
			}
			if opt := strings.Trim(f, "[]"); !strings.HasPrefix(opt, "-") && opt != "flags" {
				optional = append(optional, opt)
			}
		case strings.HasPrefix(f, "-"):
			i++ // the flag's value
		default:
			required = append(required, f)
		}
	}
	return required, optional
}

// joinNames: "NAME", "NAME and URL", "at least one ID" for "ID...".
func joinNames(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		if base, ok := strings.CutSuffix(n, "..."); ok {
			n = "at least one " + base
		}
		out[i] = n
	}
	if len(out) <= 1 {
		return strings.Join(out, "")
	}
	return strings.Join(out[:len(out)-1], ", ") + " and " + out[len(out)-1]
}

// strayKey is the root annotation where rejectStrayArgs leaves its error for Execute.
const strayKey = "oo.stray-args"

// rejectStrayArgs makes a group command (env, instance, completion, ...) fail on an unknown
// subcommand instead of printing its help and exiting 0. Cobra shows help for a group that is
// not runnable before it validates arguments, so this hooks the help function: it records the
// error on the root (per tree, so parallel tests do not share it), and Execute returns it.
func rejectStrayArgs(root *cobra.Command) {
	defaultHelp := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		if stray := c.Flags().Args(); !c.Runnable() && c.HasSubCommands() && len(stray) > 0 {
			if root.Annotations == nil {
				root.Annotations = map[string]string{}
			}
			msg := fmt.Sprintf("%s has no command %q", c.CommandPath(), stray[0])
			// The same "did you mean" the root gives for its own commands (cobra sets the
			// distance only on the command it runs; a group's is 0, prefixes only).
			if c.SuggestionsMinimumDistance <= 0 {
				c.SuggestionsMinimumDistance = 2
			}
			if s := c.SuggestionsFor(stray[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
			}
			root.Annotations[strayKey] = fmt.Sprintf("%s (see '%s --help')", msg, c.CommandPath())
			return
		}
		defaultHelp(c, args)
	})
}

// strayArgsError is what rejectStrayArgs recorded, if anything.
func strayArgsError(root *cobra.Command) error {
	if msg := root.Annotations[strayKey]; msg != "" {
		return cmdutil.Usagef("%s", msg)
	}
	return nil
}
