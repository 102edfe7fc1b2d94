package env

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// AddOptions is what `oo env add` needs.
type AddOptions struct {
	cmdutil.Deps
	Name, URL   string
	Description string
	Force       bool
	Use         bool
}

// NewCmdAdd returns `oo env add`; runF, when set, runs instead of addRun (tests).
func NewCmdAdd(f *cmdutil.Factory, runF func(*AddOptions) error) *cobra.Command {
	o := &AddOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "add NAME URL",
		Short: "Add an environment (a name for a server URL)",
		Example: `  oo env add staging https://oo.staging.example.com
  oo env add dev http://127.0.0.1:9000 --description "my second server" --use
  # point the built-in "local" at another port
  oo env add local http://127.0.0.1:9000 --force`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.URL, o.Ctx = args[0], args[1], cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return addRun(o)
		},
	}
	cmd.Flags().StringVar(&o.Description, "description", "", "what this environment is")
	cmd.Flags().BoolVar(&o.Force, "force", false, "change the URL of an existing environment (keeps its accounts)")
	cmd.Flags().BoolVar(&o.Use, "use", false, "also make it the current environment")
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

func addRun(o *AddOptions) error {
	if err := config.ValidName(o.Name); err != nil {
		return cmdutil.Usage(err)
	}
	u, err := CheckURL(o.URL)
	if err != nil {
		return err
	}
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	e, exists := cfg.Environments[o.Name]
	switch {
	case exists && !o.Force:
		return cmdutil.WithCode(cmdutil.ExitConflict, fmt.Errorf("environment %s already exists (%s); use --force to change its URL", o.Name, e.URL))
	case exists:
		e.URL = u
		if o.Description != "" {
			e.Description = o.Description
		}
	default:
		cfg.Environments[o.Name] = &config.Environment{URL: u, Description: o.Description, Accounts: map[string]*config.Account{}}
	}
	if o.Use {
		cfg.Current = o.Name
	}
	if err := cfg.Save(); err != nil {
		return err
	}
	verb := "Added"
	if exists {
		verb = "Updated"
	}
	fmt.Fprintf(o.IO.ErrOut, "%s environment %s → %s\n", verb, o.Name, u)
	if o.Use {
		fmt.Fprintf(o.IO.ErrOut, "Now using environment %s\n", o.Name)
	}
	return nil
}
