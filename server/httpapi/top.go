package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
)

// top answers GET /proxy-svc/top: one snapshot of the slugs the caller may see, or, for a
// client that asks for text/event-stream, one snapshot a second until it goes.
func (a *API) top(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	stream, err := wantsStream(r)
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	if stream {
		a.topStream(w, r, p)
		return
	}
	WriteJSON(w, http.StatusOK, a.topSnapshot(p))
}

// wantsStream reports whether the client asked for server-sent events: by Accept, or by
// ?stream=1 for a client that cannot set headers.
func wantsStream(r *http.Request) (bool, error) {
	if v := r.URL.Query().Get(api.ParamStream); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return false, apierr.BadRequest("%s=%q: want 1 or 0", api.ParamStream, v)
		}
		return on, nil
	}
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
				return true, nil
			}
		}
	}
	return false, nil
}

// topSnapshot joins the traffic recorder's figures with the registry's instance counts. An
// admin sees every slug; anyone else only their own. Slugs with instances are listed even
// without traffic, and slugs with traffic in the window even without instances (requests
// answered 503 are worth seeing).
func (a *API) topSnapshot(p auth.Principal) api.TopResponse {
	only := p.Slug
	if p.IsAdmin() {
		only = ""
	}
	rows := map[string]*api.SlugTop{}
	for _, h := range a.Registry.Health(only) {
		rows[h.Slug] = &api.SlugTop{Slug: h.Slug, Healthy: h.Healthy, Instances: h.Instances}
	}
	if a.Traffic != nil {
		for _, s := range a.Traffic.Stats(api.TopWindow) {
			if only != "" && s.Slug != only {
				continue
			}
			row := rows[s.Slug]
			if row == nil {
				if s.RPS == 0 && s.InFlight == 0 {
					continue // no instances and nothing lately: gone
				}
				row = &api.SlugTop{Slug: s.Slug}
				rows[s.Slug] = row
			}
			row.RPS, row.P50Ms, row.P99Ms, row.ErrorRate = s.RPS, s.P50Ms, s.P99Ms, s.ErrorRate
			row.InFlight, row.Requests, row.Errors = s.InFlight, s.Requests, s.Errors
			row.BytesIn, row.BytesOut = s.BytesIn, s.BytesOut
		}
	}
	out := api.TopResponse{
		Time:       time.Now().UTC().Truncate(time.Millisecond),
		Window:     api.TopWindow.String(),
		MetricsOff: a.Traffic == nil,
		Slugs:      make([]api.SlugTop, 0, len(rows)),
	}
	for _, row := range rows {
		out.Slugs = append(out.Slugs, *row)
	}
	slices.SortFunc(out.Slugs, func(x, y api.SlugTop) int { return strings.Compare(x.Slug, y.Slug) })
	return out
}

// topWriteTimeout bounds one event's write: a client that stopped reading (gone without
// closing) is dropped instead of holding the handler until TCP gives up.
const topWriteTimeout = 10 * time.Second

// topStream sends a snapshot at once and then every api.TopInterval until the client goes,
// its token stops being valid (expired or revoked: an "error" event says so) or the server
// shuts down (a.Done).
func (a *API) topStream(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	rc := http.NewResponseController(w)
	// The API's read deadline (BodyTimeout) would end the stream: net/http cancels the
	// request when its background read of the idle connection times out.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // a reverse proxy in front passes each event on at once
	w.WriteHeader(http.StatusOK)

	token := bearer(r)
	tick := time.NewTicker(api.TopInterval)
	defer tick.Stop()
	for {
		if !a.sendEvent(w, rc, "", a.topSnapshot(p)) {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-a.Done:
			return
		case <-tick.C:
		}
		// Memory only, like the proxy: cheap every second, and a logout ends the stream.
		if _, err := a.Users.AuthenticateLocal(token); err != nil {
			a.sendEvent(w, rc, "error", api.ErrorResponse{Error: err.Error()})
			return
		}
	}
}

// sendEvent writes one server-sent event (named, or the default "message" when event is "")
// whose data is v as JSON, and flushes it; false when the client is gone.
func (a *API) sendEvent(w http.ResponseWriter, rc *http.ResponseController, event string, v any) bool {
	data, err := json.Marshal(v)
	if err != nil {
		a.Log.Error("encoding an event", "err", err)
		return false
	}
	var b strings.Builder
	if event != "" {
		b.WriteString("event: " + event + "\n")
	}
	b.WriteString("data: ")
	b.Write(data) // JSON from Marshal has no newline, so one data line holds it
	b.WriteString("\n\n")
	_ = rc.SetWriteDeadline(time.Now().Add(topWriteTimeout))
	if _, err := w.Write([]byte(b.String())); err != nil {
		return false
	}
	return rc.Flush() == nil
}
