// Package egresstest holds helpers for tests of the target policy: a loopback listener that
// counts connections, and a resolver that changes its answer, all without any network.
package egresstest

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
)

// CountingListener listens on addr (a loopback address such as 127.0.0.2:0), accepts and closes
// every connection, and counts them. It returns the port and the count; it is closed when the
// test ends.
func CountingListener(t testing.TB, addr string) (port string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s (all of 127.0.0.0/8 is loopback on Linux): %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, accepted
}

// Rebinding resolves every name to before until Rebind is called, and to after from then on:
// a name whose owner points it elsewhere once it has been registered.
type Rebinding struct {
	Before, After netip.Addr
	rebound       atomic.Bool
}

// Rebind makes later lookups answer After.
func (r *Rebinding) Rebind() { r.rebound.Store(true) }

// Lookup is the resolver to give egress.Policy.WithLookup.
func (r *Rebinding) Lookup(context.Context, string) ([]netip.Addr, error) {
	if r.rebound.Load() {
		return []netip.Addr{r.After}, nil
	}
	return []netip.Addr{r.Before}, nil
}
