package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ooctl/oo/pkg/api"
)

// LogsHandler receives what FollowLogs reads. A non-nil error from either function ends the
// stream with that error.
type LogsHandler struct {
	// Connected, if set, is called once the server has accepted the stream.
	Connected func()
	// Event is called for each request to the slug, in the order the server sent them.
	Event func(api.LogEvent) error
	// Dropped is called with how many requests the server has skipped on this stream so far
	// because it was read too slowly (a running total); nil ignores it.
	Dropped func(total uint64) error
}

// ErrStreamEnded is returned by FollowLogs when the server closed a stream that had started:
// it shut down or restarted, or something between cut the connection.
var ErrStreamEnded = errors.New("the server ended the stream")

// maxEventBytes bounds one event's line: a request path can be as long as the server's header
// limit (1 MiB) allows.
const maxEventBytes = 2 << 20

// FollowLogs follows the requests proxied to slug (GET api.LogsPath) until ctx ends, which
// returns ctx.Err(); until the stream ends, which returns ErrStreamEnded (or the read error);
// or until h returns an error. A refusal (401, 403, 404) is an *Error as for any call. It is
// not bounded by the client's timeout.
func (c *Client) FollowLogs(ctx context.Context, slug string, h LogsHandler) error {
	hdr := http.Header{"Accept": {"text/event-stream"}}
	rsp, err := c.WithoutTimeLimit().Do(ctx, http.MethodGet, api.LogsPath(url.PathEscape(slug)), nil, hdr)
	if err != nil {
		return err
	}
	defer rsp.Body.Close()
	if rsp.StatusCode/100 != 2 {
		return ErrorFromResponse(rsp)
	}
	if ct := rsp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("GET %s: expected an event stream, got %q (is %s an oo server?)", api.LogsPath(slug), ct, c.baseURL)
	}
	if h.Connected != nil {
		h.Connected()
	}
	sc := bufio.NewScanner(rsp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	var kind string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() > 0 {
				if err := dispatchLogEvent(kind, data.String(), h); err != nil {
					return err
				}
			}
			kind = ""
			data.Reset()
		case strings.HasPrefix(line, ":"): // a comment: keep-alive
		case strings.HasPrefix(line, "event:"):
			kind = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrStreamEnded, err)
	}
	return ErrStreamEnded
}

// dispatchLogEvent hands one complete SSE event to h. Event types it does not know are
// skipped: a newer server may send more.
func dispatchLogEvent(kind, data string, h LogsHandler) error {
	switch kind {
	case "", "message":
		var ev api.LogEvent
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return fmt.Errorf("decoding a log event: %w", err)
		}
		if h.Event != nil {
			return h.Event(ev)
		}
	case api.LogsDroppedEvent:
		var d api.LogsDropped
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			return fmt.Errorf("decoding a dropped event: %w", err)
		}
		if h.Dropped != nil {
			return h.Dropped(d.Dropped)
		}
	}
	return nil
}
