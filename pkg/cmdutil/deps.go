package cmdutil

import (
	"context"
	"time"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/internal/credstore"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/iostreams"
)

// Deps is what a command takes from the outside world: its streams, and functions for the
// config, the session, API clients, credential stores and the clock. Every command's options
// struct embeds Deps instead of holding the Factory, so a test can build the options with
// fakes and call the command's run function directly.
type Deps struct {
	IO      *iostreams.IOStreams
	Config  func() (*config.Config, error)
	EnvName func() (string, error)                // -e, else OO_ENV, else the config's current one
	Target  func() (*Session, error)              // environment, URL and account; no token
	Session func(required bool) (*Session, error) // Target plus the token
	Client  func(*Session) *client.Client
	Store   func(storage string) credstore.Store // the credential store for a config storage name
	Now     func() time.Time
	// InsecureStorage says whether credentials go to the 0600 file (the flag, or the variable).
	InsecureStorage func(flag bool) bool
	// Explain words an API error for a session, for a message a command prints and goes on.
	// Returned errors are worded once by the root; see Factory.Explain.
	Explain func(*Session, error) error
	// LoginHint is the command that logs a slug in again to a session's environment.
	LoginHint func(s *Session, slug string) string

	// Ctx is the command's context, set when it runs (cmd.Context()).
	Ctx context.Context
}

// Deps gives a command the factory's dependencies. The functions read the factory when they
// are called, so flags parsed later (-e) still count.
func (f *Factory) Deps() Deps {
	return Deps{
		IO:              f.IOStreams,
		Config:          f.Config,
		EnvName:         f.EnvName,
		Target:          f.Target,
		Session:         f.Session,
		Client:          f.Client,
		Store:           f.Store,
		Now:             f.Clock,
		InsecureStorage: f.InsecureStorage,
		Explain:         f.Explain,
		LoginHint:       f.LoginHint,
		Ctx:             context.Background(),
	}
}
