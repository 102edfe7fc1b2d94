package traffic

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one finished request as a follower (oo logs) sees it.
type Event struct {
	Time       time.Time `json:"time"` // when the request started
	Method     string    `json:"method"`
	Path       string    `json:"path"` // with the query string, as the client sent it
	Status     int       `json:"status"`
	DurationMs float64   `json:"durationMs"`
	Instance   string    `json:"instance"`
	RequestID  string    `json:"requestId"`
	Caller     string    `json:"caller"`
	BytesIn    int64     `json:"bytesIn"`
	BytesOut   int64     `json:"bytesOut"`
	Upstream   string    `json:"upstream,omitempty"` // dial, timeout or reset
}

// eventOf copies what e's strings point at: they may live in a buffer the fast path reuses.
func eventOf(e *Exchange) Event {
	return Event{
		Time:       e.Start,
		Method:     strings.Clone(e.Method),
		Path:       strings.Clone(e.Path),
		Status:     e.Status,
		DurationMs: float64(e.Duration) / float64(time.Millisecond),
		Instance:   strings.Clone(e.Instance),
		RequestID:  strings.Clone(e.RequestID),
		Caller:     strings.Clone(e.Caller),
		BytesIn:    e.BytesIn,
		BytesOut:   e.BytesOut,
		Upstream:   e.Upstream.String(),
	}
}

// Subscription follows one slug's requests. Read C until it is closed (by Close, or by the
// Recorder's Close).
type Subscription struct {
	C <-chan Event

	ch      chan Event
	r       *Recorder
	s       *slugState
	dropped atomic.Uint64
	// mu orders sends against the close of ch, so End never sends on a closed channel.
	mu     sync.Mutex
	closed bool
}

// Subscribe follows slug. buffer is the channel's size (at least 1): when it is full, End drops
// the event and counts it in Dropped rather than wait. A nil or closed Recorder returns a
// subscription whose channel is already closed.
func (r *Recorder) Subscribe(slug string, buffer int) *Subscription {
	ch := make(chan Event, max(buffer, 1))
	sub := &Subscription{C: ch, ch: ch, r: r}
	if r == nil {
		sub.end()
		return sub
	}
	s := r.slug(slug)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		sub.end()
		return sub
	}
	sub.s = s
	var l []*Subscription
	if old := s.subs.Load(); old != nil {
		l = append(l, *old...)
	}
	l = append(l, sub)
	s.subs.Store(&l)
	return sub
}

// Dropped is how many events this follower missed because its channel was full.
func (sub *Subscription) Dropped() uint64 {
	if sub == nil {
		return 0
	}
	return sub.dropped.Load()
}

// Close stops the subscription and closes C. Calling it again does nothing.
func (sub *Subscription) Close() {
	if sub == nil {
		return
	}
	if sub.r != nil && sub.s != nil {
		sub.r.mu.Lock()
		if old := sub.s.subs.Load(); old != nil {
			l := make([]*Subscription, 0, len(*old))
			for _, o := range *old {
				if o != sub {
					l = append(l, o)
				}
			}
			sub.s.subs.Store(&l)
		}
		sub.r.mu.Unlock()
	}
	sub.end()
}

func (sub *Subscription) send(ev *Event) {
	sub.mu.Lock()
	if !sub.closed {
		select {
		case sub.ch <- *ev:
		default:
			sub.dropped.Add(1)
		}
	}
	sub.mu.Unlock()
}

func (sub *Subscription) end() {
	sub.mu.Lock()
	if !sub.closed {
		sub.closed = true
		close(sub.ch)
	}
	sub.mu.Unlock()
}
