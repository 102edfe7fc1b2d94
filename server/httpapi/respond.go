package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/store"
)

// MaxBodyBytes bounds every API request body; the proxy streams bodies and has no such limit.
const MaxBodyBytes = 1 << 20

// WriteJSON writes v with status. Content-Type is always set: generated OpenAPI clients refuse
// to decode a body without it.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	// Messages quote user input such as URLs; \u003c escapes would only make them unreadable.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// WriteError answers with err's status and {"error": msg}. Errors that are not *apierr.Error are
// logged and answered with a generic 500 so internals do not leak to clients.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if errors.Is(err, store.ErrUnavailable) {
		// etcd is down or partitioned: say so, fast, and let the client retry; the proxy
		// keeps serving from memory meanwhile.
		log.Warn("store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		err = apierr.Busy(1, "the store is unavailable (etcd did not answer in time); the change was not confirmed, try again")
	}
	status := apierr.Status(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		log.Error("internal error", "method", r.Method, "path", r.URL.Path,
			"request_id", r.Header.Get(RequestIDHeader), "err", err)
		msg = "internal server error"
	}
	if ra := apierr.RetryAfter(err); ra > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ra))
	}
	WriteJSON(w, status, api.ErrorResponse{Error: msg})
}

// Decode reads a JSON body of at most MaxBodyBytes into v. An empty body decodes as {} so that
// endpoints whose fields are all optional accept a bare POST.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		if rerr := readError(w, err); rerr != nil {
			return rerr
		}
		return apierr.BadRequest("malformed JSON body: %s", describeJSONError(err))
	}
	// Only whitespace may follow the value. dec.More() is not enough: it reports false before a
	// stray '}' or ']', so `{"slug":"a"}}` used to be accepted.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if rerr := readError(w, err); rerr != nil {
			return rerr
		}
		return apierr.BadRequest("malformed JSON body: only whitespace may follow the JSON value")
	}
	return nil
}

// readError is the answer when reading the body failed, as opposed to the JSON in it being
// wrong: too large (413), or stalled (408). nil for any other error.
func readError(w http.ResponseWriter, err error) error {
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooBig):
		return apierr.New(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", MaxBodyBytes)
	case errors.As(err, &netErr) && netErr.Timeout():
		// The read deadline set in Handler passed: the client stopped sending, which says
		// nothing about whether its JSON is well formed. The connection cannot be reused.
		w.Header().Set("Connection", "close")
		return apierr.New(http.StatusRequestTimeout, "the request body did not arrive in time")
	}
	return nil
}

// describeJSONError words a decoding error for an API client: encoding/json names Go types
// ("cannot unmarshal array into Go value of type api.LoginRequest"), which mean nothing to a
// caller in another language.
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return "expected a JSON object, got " + jsonKind(typeErr.Value)
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q must not be %s", typeErr.Field, jsonKind(typeErr.Value))
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("%s (at byte %d)", strings.TrimPrefix(syntaxErr.Error(), "json: "), syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends in the middle of a JSON value"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// jsonKind turns UnmarshalTypeError.Value ("array", "number -1", "string") into words.
func jsonKind(v string) string {
	kind, _, _ := strings.Cut(v, " ")
	switch kind {
	case "array", "object":
		return "an " + kind
	case "number", "string":
		return "a " + kind
	case "bool":
		return "a boolean"
	}
	return kind
}
