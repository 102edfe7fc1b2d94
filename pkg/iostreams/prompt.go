package iostreams

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"
	"unicode/utf8"

	"golang.org/x/term"
)

// ErrNoInput: the input ended (^D, a closed pipe) before an answer was given.
var ErrNoInput = errors.New("no answer given (end of input)")

// ErrInterrupted: the user pressed Ctrl-C (or the process got SIGINT, SIGTERM or SIGHUP) at a
// prompt. It matches context.Canceled, which is what callers map to the "interrupted" exit code.
var ErrInterrupted error = interruptedError{}

type interruptedError struct{}

func (interruptedError) Error() string        { return "interrupted" }
func (interruptedError) Is(target error) bool { return target == context.Canceled }

// Control keys a raw terminal delivers as bytes.
const (
	keyCtrlC     = 0x03
	keyCtrlD     = 0x04
	keyBackspace = 0x08
	keyCtrlU     = 0x15
	keyDelete    = 0x7f
)

// readSecret reads one line of key presses: Enter ends it, ^C is ErrInterrupted, ^D or end of
// input with nothing typed is ErrNoInput, backspace and ^U edit.
func readSecret(r io.ByteReader) (string, error) {
	var buf []byte
	for {
		b, err := r.ReadByte()
		if err == io.EOF {
			if len(buf) == 0 {
				return "", ErrNoInput
			}
			return string(buf), nil
		}
		if err != nil {
			return "", err
		}
		switch b {
		case '\r':
			// A piped "\r\n" is one line ending, not two answers.
			if br, ok := r.(*bufio.Reader); ok {
				if next, err := br.Peek(1); err == nil && next[0] == '\n' {
					_, _ = br.ReadByte()
				}
			}
			return string(buf), nil
		case '\n':
			return string(buf), nil
		case keyCtrlC:
			return "", ErrInterrupted
		case keyCtrlD:
			if len(buf) == 0 {
				return "", ErrNoInput
			}
			return string(buf), nil
		case keyBackspace, keyDelete:
			if len(buf) > 0 {
				_, size := utf8.DecodeLastRune(buf)
				buf = buf[:len(buf)-size]
			}
		case keyCtrlU:
			buf = buf[:0]
		default:
			buf = append(buf, b)
		}
	}
}

// readSecretTTY reads a secret from a terminal in raw mode: nothing is echoed, and ^C and ^D
// arrive as bytes instead of killing the process or being swallowed, so the terminal state is
// always restored. (term.ReadPassword leaves signals on: Ctrl-C killed oo with echo off, and
// it loops on ^D.) A signal from outside (kill, a closed terminal) also restores it.
func readSecretTTY(f *os.File) (string, error) {
	fd := int(f.Fd())
	state, err := term.MakeRaw(fd)
	if err != nil {
		return "", err
	}
	defer func() { _ = term.Restore(fd, state) }()
	return interruptible(func() (string, error) { return readSecret(byteReader{f}) })
}

// interruptible runs read, and returns ErrInterrupted at once when SIGINT, SIGTERM or SIGHUP
// arrives meanwhile. The read goroutine stays blocked on the terminal; the command ends soon
// after, so that is harmless.
func interruptible(read func() (string, error)) (string, error) {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigc)
	type result struct {
		s   string
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := read()
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-sigc:
		return "", ErrInterrupted
	}
}

// byteReader reads a terminal one byte at a time, so nothing typed after Enter is consumed.
// A zero-byte read (what ^D gives in cooked mode) is end of input, never a busy loop.
type byteReader struct{ f *os.File }

func (r byteReader) ReadByte() (byte, error) {
	var b [1]byte
	n, err := r.f.Read(b[:])
	if n == 1 {
		return b[0], nil
	}
	if err == nil {
		err = io.EOF
	}
	return 0, err
}
