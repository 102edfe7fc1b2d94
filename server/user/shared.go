package user

import (
	"context"
	"errors"
	"fmt"

	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/store"
)

// Shared is what the user service needs from a store that other replicas write too (etcd):
// a way to follow the live tokens, so that a token issued or revoked on another replica is
// known here without a store read per request.
//
// The in-memory active set is fed by WatchTokens: puts and deletions in revision order, and a
// whole new set (Reset) when the watch had to start over. A watch alone would leave a short
// window after a login on replica A in which the token is still unknown on B, so a token that
// verifies (signed by the shared key, not expired) but is missing from memory is looked up once
// with ReadToken; that lookup is guarded by revisions so that it can never bring back a token
// whose revocation the watch already delivered. Only the API does the lookup: the proxy's
// authentication stays memory-only (AuthenticateLocal).
type Shared interface {
	// ListTokensAt returns every live token and the store revision of that listing.
	ListTokensAt() ([]store.TokenRecord, int64, error)
	// WatchTokens calls apply with each change to the live tokens after revision afterRev, in
	// order, until ctx is done. When it cannot resume (compaction, watch failure) it lists the
	// tokens again and delivers them as one Reset event before carrying on; it retries for as
	// long as ctx lasts, so it returns only when ctx is done.
	WatchTokens(ctx context.Context, afterRev int64, apply func(store.TokenEvent))
	// ReadToken returns the live token id and the revision of the read (a linearizable one),
	// or store.ErrNotFound when the token is not live.
	ReadToken(id string) (store.TokenRecord, int64, error)
}

// startShared loads the live tokens and keeps following them until Close.
func (s *Service) startShared() error {
	if _, err := s.st.DeleteExpiredTokens(s.now()); err != nil {
		return fmt.Errorf("prune expired tokens: %w", err)
	}
	live, rev, err := s.opts.Shared.ListTokensAt()
	if err != nil {
		return fmt.Errorf("load tokens: %w", err)
	}
	s.applyTokenEvent(store.TokenEvent{Rev: rev, Reset: true, Live: live})
	s.lastPrune = s.now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.opts.Shared.WatchTokens(ctx, rev, s.applyTokenEvent)
	}()
	s.stopWatch = func() { cancel(); <-done }
	return nil
}

// Close stops following the shared store; a service without one has nothing to stop.
func (s *Service) Close() {
	if s.stopWatch != nil {
		s.stopWatch()
	}
}

// applyTokenEvent updates the active set from the watch. Tokens revoked on this replica stay
// out (tombstones) until the watch itself reports their deletion: a put the watch delivers late
// must not undo a logout that this replica already answered.
func (s *Service) applyTokenEvent(ev store.TokenEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case ev.Reset:
		clear(s.active)
		live := make(map[string]bool, len(ev.Live))
		for _, t := range ev.Live {
			live[t.ID] = true
			if !s.tomb[t.ID] {
				s.active[t.ID] = activeToken{userID: t.UserID, expiresAt: t.ExpiresAt}
			}
		}
		for id := range s.tomb {
			if !live[id] {
				delete(s.tomb, id) // its deletion is in the listing
			}
		}
	case ev.Put != nil:
		if !s.tomb[ev.Put.ID] {
			s.active[ev.Put.ID] = activeToken{userID: ev.Put.UserID, expiresAt: ev.Put.ExpiresAt}
		}
	case ev.Deleted != "":
		delete(s.active, ev.Deleted)
		delete(s.tomb, ev.Deleted)
	}
	s.appliedRev = max(s.appliedRev, ev.Rev)
}

// lookupShared settles a verified token that memory does not know: issued on another replica a
// moment ago (the watch has not delivered it yet), or revoked. The read's revision decides
// whether its answer may enter the active set: a read at or after everything the watch applied
// is newer than memory, and anything later reaches memory through the watch; an older read
// only tells what memory already knows better.
//
// A token found absent is remembered as revoked (gone): its record was committed before the
// token was handed out, and ids are never reused, so absent once is absent for good, and a
// client that keeps presenting it costs no further reads.
func (s *Service) lookupShared(p auth.Principal) error {
	s.mu.RLock()
	gone := s.gone[p.TokenID]
	s.mu.RUnlock()
	if gone {
		return errRevoked
	}
	rec, rev, err := s.opts.Shared.ReadToken(p.TokenID)
	if errors.Is(err, store.ErrNotFound) {
		s.mu.Lock()
		if len(s.gone) >= maxVerified {
			clear(s.gone) // crude, like the verified cache: a refill costs one read per token
		}
		s.gone[p.TokenID] = true
		s.mu.Unlock()
		return errRevoked
	} else if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.UserID != p.UserID || s.tomb[rec.ID] {
		return errRevoked
	}
	if rev >= s.appliedRev {
		s.active[rec.ID] = activeToken{userID: rec.UserID, expiresAt: rec.ExpiresAt}
		return nil
	}
	if t, ok := s.active[rec.ID]; ok && t.userID == p.UserID {
		return nil
	}
	return errRevoked
}
