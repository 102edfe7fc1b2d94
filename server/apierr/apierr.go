// Package apierr is the one error type the server's domain packages return when the caller did
// something wrong. The HTTP layer turns it into a status code and {"error": "..."}; any other
// error becomes a 500 whose details are logged, not sent.
package apierr

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a client-facing error with its HTTP status.
type Error struct {
	Status  int
	Message string
	// RetryAfter, when positive, is sent as the Retry-After header (seconds): when a 429 or a
	// 503 is worth trying again.
	RetryAfter int
}

func (e *Error) Error() string { return e.Message }

// New makes an Error with a formatted message.
func New(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

func BadRequest(format string, args ...any) *Error {
	return New(http.StatusBadRequest, format, args...)
}

func Unauthorized(format string, args ...any) *Error {
	return New(http.StatusUnauthorized, format, args...)
}

func Forbidden(format string, args ...any) *Error {
	return New(http.StatusForbidden, format, args...)
}

func NotFound(format string, args ...any) *Error {
	return New(http.StatusNotFound, format, args...)
}

func Conflict(format string, args ...any) *Error {
	return New(http.StatusConflict, format, args...)
}

// Busy is a 503 for work refused because the server is saturated; retry after the given
// seconds.
func Busy(retryAfter int, format string, args ...any) *Error {
	e := New(http.StatusServiceUnavailable, format, args...)
	e.RetryAfter = retryAfter
	return e
}

// TooMany is a 429: the caller is over a limit for the next retryAfter seconds.
func TooMany(retryAfter int, format string, args ...any) *Error {
	e := New(http.StatusTooManyRequests, format, args...)
	e.RetryAfter = retryAfter
	return e
}

// RetryAfter returns err's RetryAfter, or 0.
func RetryAfter(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// Status returns the HTTP status for err: the Error's own, or 500 for anything else.
func Status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return http.StatusInternalServerError
}
