package registry

import (
	"sync"

	"github.com/ooctl/oo/server/store"
)

// committer is the registry's group commit. Writes are queued under Registry.mu, in the order
// the in-memory state changed, and committed without that lock: while one transaction fsyncs,
// the writes of every registration that arrives meanwhile collect in the next batch, which the
// first of their waiters then commits in one transaction. A caller acknowledges a write only
// after wait returns nil, so every 2xx is durable.
type committer struct {
	st    Store
	mu    sync.Mutex
	cond  *sync.Cond
	queue *commitBatch // collecting; nil when empty
	busy  bool         // a batch is being committed
	// largest is the most writes one transaction held, so tests can see writes were grouped.
	largest int
}

type commitBatch struct {
	writes   []store.InstanceWrite
	finished bool
	err      error
}

func newCommitter(st Store) *committer {
	c := &committer{st: st}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// add queues w and returns the batch to wait for. Call it with Registry.mu held, so the store
// sees writes in the order the registry made them.
func (c *committer) add(w ...store.InstanceWrite) *commitBatch {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queue == nil {
		c.queue = &commitBatch{}
	}
	c.queue.writes = append(c.queue.writes, w...)
	return c.queue
}

// wait returns once b is committed, committing it itself when no other commit is running.
func (c *committer) wait(b *commitBatch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !b.finished {
		if c.busy {
			c.cond.Wait()
			continue
		}
		// Not finished and nothing running: b is the queued batch. Take it, so that what
		// arrives from now on goes to the next one.
		c.queue, c.busy = nil, true
		c.mu.Unlock()
		err := c.st.WriteInstances(b.writes)
		c.mu.Lock()
		b.err, b.finished, c.busy = err, true, false
		c.largest = max(c.largest, len(b.writes))
		c.cond.Broadcast()
	}
	return b.err
}
