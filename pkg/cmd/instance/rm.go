package instance

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/cmdutil"
)

// RmOptions is what `oo instance rm` needs.
type RmOptions struct {
	cmdutil.Deps
	IDs []string
}

// NewCmdRm returns `oo instance rm`; runF, when set, runs instead of rmRun (tests).
func NewCmdRm(f *cmdutil.Factory, runF func(*RmOptions) error) *cobra.Command {
	o := &RmOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:     "rm ID...",
		Aliases: []string{"remove", "delete"},
		Short:   "Remove instances from the registry (owner or admin)",
		Long: `Remove each instance by id. Every id is tried and reported on its own line; the exit code
is non-zero if any failed (the code of the first failure). A running service that heartbeats
or re-registers will come back: stop it first.`,
		Example: `  oo instance rm inst_VcXqXrj1IIj6sEN50
  oo instance ls --slug old-svc -o json | jq -r '.instances[].id' | xargs oo instance rm`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.IDs, o.Ctx = args, cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return rmRun(o)
		},
	}
	return cmd
}

func rmRun(o *RmOptions) error {
	args := o.IDs
	s, err := o.Session(true)
	if err != nil {
		return err
	}
	c := o.Client(s)
	ios := o.IO
	var first error
	failed := 0
	for _, id := range args {
		err := c.DeleteInstance(o.Ctx, id)
		if err != nil {
			err = o.Explain(s, err)
			if len(args) == 1 {
				return fmt.Errorf("%s: %w", id, err) // one id: one line, no "1 of 1" summary
			}
			fmt.Fprintf(ios.ErrOut, "oo: %s: %v\n", id, err)
			failed++
			if first == nil {
				first = err
			}
			if cmdutil.ExitCode(err) == cmdutil.ExitUnreached {
				break // the rest would fail the same way
			}
			continue
		}
		fmt.Fprintf(ios.ErrOut, "Removed %s\n", id)
	}
	if first != nil {
		return cmdutil.WithCode(cmdutil.ExitCode(first), fmt.Errorf("%d of %d not removed", failed, len(args)))
	}
	return nil
}
