package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// WhoamiOutput is `oo whoami -o json`: the server's by-token answer (the wire type, inline)
// plus where the client found the token and what the offline check said.
type WhoamiOutput struct {
	api.ReadUserByTokenResponse
	Env        string    `json:"env"`
	Server     string    `json:"server"`
	Credential string    `json:"credential"`
	TokenID    string    `json:"tokenId,omitempty"`
	IssuedAt   time.Time `json:"issuedAt"`
	// SignatureVerified: the token's RS256 signature checked out against the server's public
	// key, fetched from the server, and it has not expired.
	SignatureVerified bool     `json:"signatureVerified"`
	OtherAccounts     []string `json:"otherAccounts,omitempty"`
}

// WhoamiOptions is what `oo whoami` needs.
type WhoamiOptions struct {
	cmdutil.Deps
	output string
}

// NewCmdWhoami returns `oo whoami`; runF, when set, runs instead of whoamiRun (tests).
func NewCmdWhoami(f *cmdutil.Factory, runF func(*WhoamiOptions) error) *cobra.Command {
	o := &WhoamiOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who you are logged in as, where, and until when",
		Long: `Show the selected account: slug, id, roles, environment, server, token expiry and where
the token is stored. The token is checked twice: offline, against the server's public key (its
signature and expiry), and by the server itself (which also knows about revocation).`,
		Example: `  oo whoami
  oo whoami -e staging -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return whoamiRun(o)
		},
	}
	cmdutil.AddOutputFlag(cmd, &o.output)
	return cmd
}

func whoamiRun(o *WhoamiOptions) error {
	if err := cmdutil.CheckOutput(o.output); err != nil {
		return err
	}
	s, err := o.Session(true)
	if err != nil {
		return err
	}
	// o.Session has already failed offline on an expired token.
	now := o.Now()
	who := "the token in OO_TOKEN"
	if !s.FromEnvVar {
		who = fmt.Sprintf("the token of %s on env %s", s.Slug, s.Env)
	}
	cl := o.Client(s)
	key, err := cl.PublicKey(o.Ctx)
	if err != nil {
		return err
	}
	claims, verr := cmdutil.VerifyToken(s.Token, key, now)
	if verr != nil && !errors.Is(verr, cmdutil.ErrTokenExpired) {
		return cmdutil.WithCode(cmdutil.ExitAuth, fmt.Errorf("%s does not verify with the server's public key (%v): was it issued by another server? run `oo login` again", who, verr))
	}
	me, err := cl.Whoami(o.Ctx)
	if err != nil {
		return err
	}
	out := WhoamiOutput{ReadUserByTokenResponse: *me, Env: s.Env, Server: s.URL, Credential: s.Credential,
		SignatureVerified: verr == nil}
	if out.Organizations == nil {
		out.Organizations = []string{}
	}
	if claims != nil {
		out.TokenID, out.IssuedAt = claims.TokenID, claims.IssuedAt
		if len(out.Roles) == 0 {
			out.Roles = claims.Roles
		}
		if out.ExpiresAt.IsZero() {
			out.ExpiresAt = claims.ExpiresAt
		}
	}
	if len(out.Roles) == 0 {
		out.Roles = me.User.Roles
	}
	if cfg, err := o.Config(); err == nil && !s.FromEnvVar {
		for _, slug := range cfg.Environments[s.Env].Slugs() {
			if slug != me.User.Slug {
				out.OtherAccounts = append(out.OtherAccounts, slug)
			}
		}
	}
	if cmdutil.WantJSON(o.output) {
		return cmdutil.PrintJSON(o.IO.Out, out)
	}
	w := o.IO.Out
	row := func(k, v string) { fmt.Fprintf(w, "%-11s %s\n", k+":", v) }
	row("slug", me.User.Slug)
	row("id", me.User.ID)
	if me.User.Name != "" && me.User.Name != me.User.Slug {
		row("name", me.User.Name)
	}
	row("roles", dash(strings.Join(out.Roles, ", ")))
	row("env", s.Env)
	row("server", fmt.Sprintf("%s (from %s)", s.URL, s.URLFrom))
	if out.ExpiresAt.IsZero() {
		row("expires", "-")
	} else {
		row("expires", fmt.Sprintf("%s (%s)", out.ExpiresAt.Local().Format(time.RFC3339), cmdutil.Until(now, out.ExpiresAt)))
	}
	row("credential", s.Credential)
	if out.SignatureVerified {
		row("signature", "valid (RS256, checked offline with the server's public key)")
	}
	if len(out.OtherAccounts) > 0 {
		row("also", strings.Join(out.OtherAccounts, ", ")+" (switch with `oo user switch SLUG`)")
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
