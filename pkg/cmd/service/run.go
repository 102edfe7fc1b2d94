package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ooctl/oo/internal/supervisor"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/sdk"
)

// RunOptions is what `oo service run` needs.
type RunOptions struct {
	cmdutil.Deps
	argv         []string // the program and its arguments
	slug         string
	port         int
	replicas     int
	restart      string
	healthPath   string
	grace        time.Duration
	startTimeout time.Duration
	heartbeat    time.Duration
	maxBackoff   time.Duration
	insecure     bool
	selfRegister bool
}

const (
	restartNo        = supervisor.RestartNo
	restartOnFailure = supervisor.RestartOnFailure
	restartAlways    = supervisor.RestartAlways
)

// NewCmdRun returns `oo service run`; runF, when set, runs instead of runRun (tests).
func NewCmdRun(f *cmdutil.Factory, runF func(*RunOptions) error) *cobra.Command {
	o := &RunOptions{Deps: f.Deps()}
	cmd := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARGS...]",
		Short: "Launch a service, put it behind the proxy and supervise it",
		Long: `Run COMMAND as the service SLUG and route SERVER/SLUG/... to it.

SLUG defaults to the command's name ("./mysvc" gives mysvc). For an interpreter or runner
(python3, node, go, ruby, java, bash, deno, bun, uv, npx, ...) it is the script's name instead
("python3 app.py" gives app, "go run ./cmd/hello-svc" gives hello-svc); with no script to name
it ("python3 -m pkg", "npm start") --slug is required.

For each replica oo picks a free port on 127.0.0.1 (or uses --port), starts COMMAND with
  PORT, SELF_URL       where to listen: http://127.0.0.1:$PORT
  OO_URL, OB_URL, OPENORCH_URL   the oo server
  OO_TOKEN, OO_SLUG    the service account's token and slug
  OO_TOKEN_FILE        a private file holding the account's current token: oo logs in again
                       before each token expires (or when it is refused) and rewrites the file,
                       so a program that runs longer than a token lives reads its token there
  OO_REPLICA           1, 2, ...
waits until it listens (--start-timeout), registers the instance, heartbeats while it runs and
deregisters it when it exits. A program that registers itself (as programs written for
1Backend/OpenOrch do, with the same SELF_URL) works unchanged.

The service account is created on first use with a random password kept in the OS keyring,
once COMMAND is found to be executable; it is kept (and reused by later runs) even if the
program then fails to start. Remove it, when the service is gone for good, with
'oo user rm SLUG' (as an admin). If the account SLUG exists and oo has no password for it, log in
as SLUG or as an admin first, or choose another --slug; --self-register is for a program that
registers itself with its own credentials, which oo then only launches and supervises.

--restart on-failure (or always) also restarts a program that exits before it ever listened,
with the same backoff, but gives up after 5 such starts in a row; a program that does not
listen within --start-timeout is not restarted (it probably does not read $PORT).

Output of the program passes through, prefixed with [SLUG-N] when there is more than one
replica. Ctrl-C or SIGTERM is forwarded to the program, which gets --grace to exit before it
is killed. Whenever the program exits, what it started in its process group and left running
gets SIGTERM, then SIGKILL after --grace. oo exits with the program's exit code. If oo itself
is killed (SIGKILL), the program gets SIGTERM from the kernel on Linux rather than running on
unsupervised.`,
		Example: `  oo service run -- ./mysvc
  oo service run --slug hello-svc -- go run ./examples/go
  oo service run --replicas 2 --restart on-failure -- python3 app.py
  oo service run --port 9311 --slug skeleton-svc -- ./skeleton    # a program with a fixed port`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.argv, o.Ctx = args, cmd.Context()
			if runF != nil {
				return runF(o)
			}
			return runRun(o)
		},
	}
	// Everything after COMMAND belongs to it, even without "--".
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.StringVar(&o.slug, "slug", "", "the service's slug (default: COMMAND's name, or its script's for an interpreter)")
	fl.IntVar(&o.port, "port", 0, "listen port for a single replica (default: a free port)")
	fl.IntVar(&o.replicas, "replicas", 1, "how many copies to run; the proxy balances across them")
	fl.StringVar(&o.restart, "restart", restartNo, "restart policy: no, on-failure or always (with exponential backoff)")
	fl.StringVar(&o.healthPath, "health-path", "", "have the server probe this path with GET instead of a TCP connect")
	fl.DurationVar(&o.grace, "grace", 10*time.Second, "how long the program may take to exit after SIGINT/SIGTERM before it is killed")
	fl.DurationVar(&o.startTimeout, "start-timeout", 30*time.Second, "how long the program may take to start listening")
	fl.DurationVar(&o.heartbeat, "heartbeat", 5*time.Second, "heartbeat interval; the server marks an instance down after three missed beats")
	fl.DurationVar(&o.maxBackoff, "max-backoff", 30*time.Second, "longest wait between restarts")
	fl.BoolVar(&o.insecure, "insecure-storage", false, "keep the service account's password in a plain-text 0600 file instead of the OS keyring (or set OO_INSECURE_STORAGE=1)")
	fl.BoolVar(&o.selfRegister, "self-register", false, "the program registers itself: run it even when SLUG's account exists and oo has no password for it")
	return cmd
}

func (o *RunOptions) check() error {
	switch o.restart {
	case restartNo, restartOnFailure, restartAlways:
	default:
		return cmdutil.Usagef("--restart must be no, on-failure or always, not %q", o.restart)
	}
	if o.replicas < 1 {
		return cmdutil.Usagef("--replicas must be at least 1")
	}
	if o.port != 0 && o.replicas > 1 {
		return cmdutil.Usagef("--port fixes the port of a single replica; leave it out with --replicas %d", o.replicas)
	}
	if o.port < 0 || o.port > 65535 {
		return cmdutil.Usagef("--port %d is not a port", o.port)
	}
	if o.grace <= 0 || o.startTimeout <= 0 || o.heartbeat <= 0 || o.maxBackoff <= 0 {
		return cmdutil.Usagef("--grace, --start-timeout, --heartbeat and --max-backoff must be positive")
	}
	return checkHealthPath(o.healthPath)
}

func runRun(o *RunOptions) error {
	ctx, argv := o.Ctx, o.argv
	if ctx == nil {
		ctx = context.Background()
	}
	if err := o.check(); err != nil {
		return err
	}
	slug := o.slug
	if slug == "" {
		slug = SlugFromCommand(argv)
		if slug == "" && isInterpreter(argv[0]) {
			return cmdutil.Usagef("%s is an interpreter or runner and %q names no script to derive a slug from: give one with --slug", filepath.Base(argv[0]), strings.Join(argv, " "))
		}
		if validSlug(slug) != nil {
			return cmdutil.Usagef("cannot make a slug from %q: give one with --slug", strings.Join(argv, " "))
		}
	} else if err := validSlug(slug); err != nil {
		return err
	}
	// Before anything is created: a command that cannot be run gets no account.
	if _, err := exec.LookPath(argv[0]); err != nil {
		return cmdutil.WithCode(127, fmt.Errorf("cannot run %s: %w (check the name, or give its path)", argv[0], err))
	}

	// Signals are caught before anything is registered, so that Ctrl-C at any point cleans up.
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)

	s, err := sessionFor(&o.Deps)
	if err != nil {
		return err
	}
	id, err := resolveIdentity(ctx, &o.Deps, s, slug, o.insecure, true)
	var taken *sdk.AccountTakenError
	if err != nil && errors.As(err, &taken) {
		if !o.selfRegister {
			// Running it anyway would leave it unregistered and unreachable.
			who := "you are not logged in"
			if s.Token != "" {
				who = "you are logged in as " + s.Slug
			}
			return cmdutil.WithCode(cmdutil.ExitAuth, fmt.Errorf(
				"the service account %s exists and oo has no password for it for env %s (%s): log in as %s (oo login %s) or as an admin, choose another --slug, or add --self-register if the program registers itself",
				slug, s.Env, who, slug, slug))
		}
		// The account exists and only the program knows its password, as with a program written
		// for 1Backend that ran on its own before: supervise it and let it register itself.
		id = &identity{slug: slug, unmanaged: true}
		err = nil
	}
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(o.IO.ErrOut, "oo: "+format+"\n", args...) }
	if id.created {
		logf("created service account %s (password in %s); to remove it later: oo user rm %s --remove-instances (as an admin)", slug, id.where, slug)
	}
	if id.onBehalf {
		logf("acting for %s as %s; the program gets no OO_TOKEN", slug, s.Slug)
	}
	if id.unmanaged {
		logf("the account %s exists and oo has no password for it: the program must register itself, and oo "+
			"will not register, heartbeat or deregister it (log in as %s or as an admin to change that)", slug, slug)
	}
	cfg := supervisor.Config{
		Slug: slug, Argv: argv, Port: o.port, Replicas: o.replicas, Restart: o.restart, HealthPath: o.healthPath,
		Grace: o.grace, StartTimeout: o.startTimeout, Heartbeat: o.heartbeat, MaxBackoff: o.maxBackoff,
		ServerURL: s.URL, Out: o.IO.Out, ErrOut: o.IO.ErrOut, Explain: func(err error) error { return o.Explain(s, err) },
	}
	if !id.unmanaged {
		cfg.Client, cfg.Tokens, cfg.ShareToken, cfg.ForSlug = id.c, id.tokens, id.token != "", id.forSlug()
	}
	return exitError(supervisor.Run(ctx, cfg, sigc))
}

// exitError maps how the supervisor's run ended onto oo's exit codes.
func exitError(err error) error {
	var ee *supervisor.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	if ee.Err == nil {
		return &cmdutil.Error{Code: ee.Code, Silent: true}
	}
	code := ee.Code
	var port *supervisor.PortInUseError
	switch {
	case code != 0:
	case errors.As(ee.Err, &port):
		code = cmdutil.ExitConflict
	default:
		code = cmdutil.ExitCode(ee.Err)
	}
	return cmdutil.WithCode(code, ee.Err)
}
