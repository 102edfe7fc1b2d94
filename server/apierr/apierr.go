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

// Status returns the HTTP status for err: the Error's own, or 500 for anything else.
func Status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return http.StatusInternalServerError
}
