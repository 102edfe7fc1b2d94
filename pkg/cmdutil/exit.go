package cmdutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/ooctl/oo/internal/config"
)

// Exit codes, documented in `oo --help` and README. This file is the one place errors become
// exit codes.
const (
	ExitOK        = 0
	ExitError     = 1 // anything not covered below
	ExitUsage     = 2 // bad flags or arguments
	ExitCancel    = 3 // interrupted (Ctrl-C) before finishing
	ExitAuth      = 4 // not logged in, token expired or revoked, wrong password, forbidden
	ExitNotFound  = 5 // the named thing does not exist
	ExitConflict  = 6 // already exists / owned by someone else
	ExitUnreached = 7 // the server could not be reached
	ExitTimeout   = 8 // no complete answer within the time the command was given (oo call --timeout)
)

// ExitError carries an explicit exit code, e.g. a supervised child's own exit status. Silent
// means the message was already shown (or there is none to show).
type ExitCodeError struct {
	Code   int
	Err    error
	Silent bool
}

func (e *ExitCodeError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitCodeError) Unwrap() error { return e.Err }

// UsageError marks a mistake in flags or arguments (exit 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef makes a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// WithCode wraps err so that it exits with code.
func WithCode(code int, err error) error { return &ExitCodeError{Code: code, Err: err} }

// StatusCoder is implemented by API errors (pkg/client) so that HTTP statuses map to exit codes
// without this package importing the client.
type StatusCoder interface{ StatusCode() int }

// ExitCode maps err to the process exit code. The rule, documented in README: a server's
// 400 is bad input (2, like a bad flag), 401/403 auth (4), 404 not found (5), 409 conflict
// (6), no answer at all unreachable (7); an environment name that is not configured is a
// usage mistake (2) wherever it is given. Commands return errors and let this decide.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ec *ExitCodeError
	if errors.As(err, &ec) {
		return ec.Code
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	if errors.Is(err, context.Canceled) {
		return ExitCancel
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ExitTimeout
	}
	if errors.Is(err, config.ErrUnknownEnv) {
		return ExitUsage
	}
	var sc StatusCoder
	if errors.As(err, &sc) {
		switch s := sc.StatusCode(); {
		case s == 400:
			return ExitUsage
		case s == 401 || s == 403:
			return ExitAuth
		case s == 404:
			return ExitNotFound
		case s == 409:
			return ExitConflict
		case s == 0:
			return ExitUnreached
		}
	}
	return ExitError
}

// IsSilent reports whether err's message was already printed.
func IsSilent(err error) bool {
	var ec *ExitCodeError
	return errors.As(err, &ec) && ec.Silent
}

// ExitCodes documents every exit code, in order, for `oo --help`, `oo help exit-codes` and the
// EXIT STATUS section of the man pages.
var ExitCodes = []struct {
	Code int
	Doc  string
}{
	{ExitOK, "ok"},
	{ExitError, "error not covered below, including no usable OS keyring (see 'oo login --help')"},
	{ExitUsage, "usage: bad flags or arguments, a malformed OO_URL or other variable; a server's 400"},
	{ExitCancel, "interrupted (Ctrl-C) before finishing"},
	{ExitAuth, "auth: not logged in, token expired or revoked, wrong password, forbidden (401, 403)"},
	{ExitNotFound, "not found (404)"},
	{ExitConflict, "conflict: already exists or owned by another slug (409)"},
	{ExitUnreached, "the server could not be reached"},
	{ExitTimeout, "timed out: no complete answer within the time given (oo call --timeout)"},
}
