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

// Error is the CLI's one error wrapper. It keeps its cause (for errors.As and, without a Code,
// the exit code) and adds what the command knows: an exit code (a usage mistake is ExitUsage,
// a supervised child's own status, ...), a message for people that replaces the cause's (and
// that Explain leaves alone), or Silent when the message was already shown (or there is none).
type Error struct {
	Code   int    // 0: the cause decides (ExitCode)
	Msg    string // "": the cause's message
	Err    error
	Silent bool
}

func (e *Error) Error() string {
	switch {
	case e.Msg != "":
		return e.Msg
	case e.Err == nil:
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Usage marks err as a mistake in flags or arguments (exit 2).
func Usage(err error) error { return &Error{Code: ExitUsage, Err: err} }

// Usagef makes a usage error (exit 2).
func Usagef(format string, args ...any) error { return Usage(fmt.Errorf(format, args...)) }

// WithCode wraps err so that it exits with code.
func WithCode(code int, err error) error { return &Error{Code: code, Err: err} }

// AsIs gives err the message msg and keeps Explain from rewording it; the exit code still comes
// from err. For answers whose meaning the command knows better than the generic rules.
func AsIs(err error, msg string) error { return &Error{Err: err, Msg: msg} }

// find returns the first *Error in err's tree (as errors.As walks it) for which ok holds.
func find(err error, ok func(*Error) bool) *Error {
	for err != nil {
		if e, is := err.(*Error); is && ok(e) {
			return e
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				if e := find(inner, ok); e != nil {
					return e
				}
			}
			return nil
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// HasCode reports whether err carries an exit code of its own (a usage mistake included).
func HasCode(err error) bool { return find(err, func(e *Error) bool { return e.Code != 0 }) != nil }

// worded reports whether err already carries a message for people (AsIs).
func worded(err error) bool { return find(err, func(e *Error) bool { return e.Msg != "" }) != nil }

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
	if e := find(err, func(e *Error) bool { return e.Code != 0 }); e != nil {
		return e.Code
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
	return find(err, func(e *Error) bool { return e.Silent }) != nil
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
