package supervisor

import (
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// childOutput tells whether a program wrote anything, so that an error points at its output
// only when there is some. A terminal or file is handed to the program as is (it may check
// isatty), and what it writes there is not seen: then nothing is said.
type childOutput struct {
	wrote    atomic.Bool
	flushers []func()
}

func (co *childOutput) watch(w io.Writer) io.Writer {
	if _, ok := w.(*os.File); ok {
		return w
	}
	return &seenWriter{w: w, seen: &co.wrote}
}

func (co *childOutput) flush() {
	for _, f := range co.flushers {
		f()
	}
}

// note is " (its output is above)" when the program wrote something oo saw.
func (co *childOutput) note() string {
	if co.wrote.Load() {
		return " (its output is above)"
	}
	return ""
}

type seenWriter struct {
	w    io.Writer
	seen *atomic.Bool
}

func (s *seenWriter) Write(b []byte) (int, error) {
	if len(b) > 0 {
		s.seen.Store(true)
	}
	return s.w.Write(b)
}

// prefixWriter writes whole lines with a prefix, under a lock shared by all replicas so lines
// never interleave mid-way.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		if _, err := io.WriteString(p.w, p.prefix+string(p.buf[:i+1])); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
	// A program that never ends its line still gets seen.
	if len(p.buf) > 64<<10 {
		_, _ = io.WriteString(p.w, p.prefix+string(p.buf)+"\n")
		p.buf = p.buf[:0]
	}
	return len(b), nil
}

// Flush writes a last unterminated line.
func (p *prefixWriter) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		_, _ = io.WriteString(p.w, p.prefix+string(p.buf)+"\n")
		p.buf = p.buf[:0]
	}
}
