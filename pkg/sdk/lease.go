package sdk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
)

// Lease keeps one instance of a service in the registry for as long as the process behind it
// lives: it registers the instance's URL, heartbeats, registers again when the server has
// forgotten the instance, replaces a token the server refuses, and deregisters at the end. It
// is what Start runs, and what `oo service run` runs for each program it supervises.
type Lease struct {
	Client     *client.Client // the server; its own token is ignored, Tokens supplies one
	Tokens     *Tokens
	Slug       string        // the service, to find its instance by URL
	URL        string        // the instance's URL
	HealthPath string        // "" for a TCP-connect probe
	TTL        time.Duration // how long the server waits for the next beat
	// ForSlug is set (to Slug) when an admin registers the instance on the slug's behalf.
	ForSlug string

	mu sync.Mutex
	id string
}

// ID is the registry's id of the instance ("" before it is known).
func (l *Lease) ID() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.id
}

func (l *Lease) setID(id string) {
	l.mu.Lock()
	l.id = id
	l.mu.Unlock()
}

// call runs f with a current token and, when the server refuses it and a new one can be had,
// once more with the new one.
func (l *Lease) call(ctx context.Context, f func(*client.Client) error) error {
	tok, err := l.Tokens.Token(ctx)
	if err != nil {
		return fmt.Errorf("getting a token for %s: %w", l.Slug, err)
	}
	err = f(l.Client.WithToken(tok))
	if !client.IsStatus(err, http.StatusUnauthorized) || !l.Tokens.CanRenew() {
		return err
	}
	l.Tokens.Refused(tok)
	next, terr := l.Tokens.Token(ctx)
	if terr != nil {
		return fmt.Errorf("%w (and getting a new token failed: %v)", err, terr)
	}
	if next == tok {
		return err
	}
	return f(l.Client.WithToken(next))
}

// Register puts the instance in the registry and sends a first beat, which makes it Healthy at
// once rather than at the next probe.
func (l *Lease) Register(ctx context.Context) error {
	var inst *api.Instance
	err := l.call(ctx, func(c *client.Client) (err error) {
		inst, err = c.RegisterInstance(ctx, api.RegisterInstanceRequest{
			URL: l.URL, HealthPath: l.HealthPath, HeartbeatTTL: l.ttl(), Slug: l.ForSlug,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("registering %s as %s: %w", l.URL, l.Slug, err)
	}
	id := ""
	if inst != nil && inst.ID != "" {
		id = inst.ID
	} else if list, err := l.find(ctx); err == nil && len(list) > 0 {
		// A server that answers the registration with {} only.
		id = list[0].ID
	}
	l.setID(id)
	if id != "" {
		_ = l.call(ctx, func(c *client.Client) error {
			_, err := c.Heartbeat(ctx, id, l.ttl())
			return err
		})
	}
	return nil
}

// Beat sends one heartbeat. An instance the server no longer knows (its TTL ran out while the
// process was suspended, or someone removed it) is registered again: the process is the truth.
func (l *Lease) Beat(ctx context.Context) error {
	id := l.ID()
	if id == "" {
		return l.Register(ctx)
	}
	err := l.call(ctx, func(c *client.Client) error {
		_, err := c.Heartbeat(ctx, id, l.ttl())
		return err
	})
	if client.IsStatus(err, http.StatusNotFound) {
		return l.Register(ctx)
	}
	return err
}

// Run beats every interval until ctx ends. report (may be nil) hears when beats start failing
// (with the error) and when they work again (nil).
func (l *Lease) Run(ctx context.Context, interval time.Duration, report func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A beat may include a new login (password hashing is slow on purpose): short intervals
		// still get a few seconds.
		bctx, cancel := context.WithTimeout(ctx, max(interval, 5*time.Second))
		err := l.Beat(bctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			if report != nil {
				report(err)
			}
		case err == nil && failing:
			failing = false
			if report != nil {
				report(nil)
			}
		}
	}
}

// Deregister removes the instance: by its id, and whatever the registry lists for the slug at
// the same URL, so that an id changed by another registration (the program's own) does not
// matter. An instance already gone is not an error.
func (l *Lease) Deregister(ctx context.Context) error {
	var ids []string
	if id := l.ID(); id != "" {
		ids = append(ids, id)
	}
	list, lerr := l.find(ctx)
	for _, in := range list {
		if !slices.Contains(ids, in.ID) {
			ids = append(ids, in.ID)
		}
	}
	if lerr != nil && len(ids) == 0 {
		return fmt.Errorf("deregistering %s: %w", l.URL, lerr)
	}
	var errs []error
	for _, id := range ids {
		err := l.call(ctx, func(c *client.Client) error { return c.DeleteInstance(ctx, id) })
		if err != nil && !client.IsStatus(err, http.StatusNotFound) {
			errs = append(errs, fmt.Errorf("deregistering %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// find lists the slug's instances at the lease's URL.
func (l *Lease) find(ctx context.Context) ([]api.Instance, error) {
	var all []api.Instance
	err := l.call(ctx, func(c *client.Client) (err error) {
		all, err = c.ListInstances(ctx, client.InstanceFilter{Slug: l.Slug})
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []api.Instance
	for _, in := range all {
		if (in.Slug == "" || in.Slug == l.Slug) && api.SameInstanceURL(in.URL, l.URL) {
			out = append(out, in)
		}
	}
	return out, nil
}

func (l *Lease) ttl() string {
	if l.TTL <= 0 {
		return ""
	}
	return l.TTL.String()
}
