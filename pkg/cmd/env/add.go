package env

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/pkg/cmdutil"
)

type addOptions struct {
	f           *cmdutil.Factory
	name, url   string
	description string
	force       bool
	use         bool
}

func newAddCmd(f *cmdutil.Factory) *cobra.Command {
	o := &addOptions{f: f}
	cmd := &cobra.Command{
		Use:   "add NAME URL",
		Short: "Add an environment (a name for a server URL)",
		Example: `  oo env add staging https://oo.staging.example.com
  oo env add dev http://127.0.0.1:9000 --description "my second server" --use
  # point the built-in "local" at another port
  oo env add local http://127.0.0.1:9000 --force`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name, o.url = args[0], args[1]
			return runAdd(o)
		},
	}
	cmd.Flags().StringVar(&o.description, "description", "", "what this environment is")
	cmd.Flags().BoolVar(&o.force, "force", false, "change the URL of an existing environment (keeps its accounts)")
	cmd.Flags().BoolVar(&o.use, "use", false, "also make it the current environment")
	return cmd
}

// CheckURL accepts an absolute http(s) URL without query or fragment.
func CheckURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", cmdutil.Usagef("invalid server URL %q: want http(s)://HOST[:PORT][/PATH]", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

func runAdd(o *addOptions) error {
	if err := config.ValidName(o.name); err != nil {
		return &cmdutil.UsageError{Err: err}
	}
	u, err := CheckURL(o.url)
	if err != nil {
		return err
	}
	cfg, err := o.f.Config()
	if err != nil {
		return err
	}
	e, exists := cfg.Environments[o.name]
	switch {
	case exists && !o.force:
		return cmdutil.WithCode(cmdutil.ExitConflict, fmt.Errorf("environment %s already exists (%s); use --force to change its URL", o.name, e.URL))
	case exists:
		e.URL = u
		if o.description != "" {
			e.Description = o.description
		}
	default:
		cfg.Environments[o.name] = &config.Environment{URL: u, Description: o.description, Accounts: map[string]*config.Account{}}
	}
	if o.use {
		cfg.Current = o.name
	}
	if err := cfg.Save(); err != nil {
		return err
	}
	verb := "Added"
	if exists {
		verb = "Updated"
	}
	fmt.Fprintf(o.f.IOStreams.ErrOut, "%s environment %s → %s\n", verb, o.name, u)
	if o.use {
		fmt.Fprintf(o.f.IOStreams.ErrOut, "Now using environment %s\n", o.name)
	}
	return nil
}
