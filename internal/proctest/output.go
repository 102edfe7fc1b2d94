package proctest

import (
	"bytes"
	"sync"
)

// Output is what something a test started writes (a process whose output exec copies on its own
// goroutine, a command run on a goroutine) while the test reads it: bytes.Buffer alone would
// race.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Reset forgets what was written so far.
func (o *Output) Reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b.Reset()
}
