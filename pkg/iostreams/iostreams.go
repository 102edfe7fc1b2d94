// Package iostreams owns the process's standard streams and what is known about them: whether
// each is a terminal and whether colour is allowed. Commands write data to Out and messages to
// ErrOut, and ask here instead of checking os.Stdout themselves, so tests can fake a terminal.
package iostreams

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"
)

type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY  bool
	stdoutTTY bool
	stderrTTY bool
	noColor   bool
	termWidth int

	mu    sync.Mutex
	inBuf *bufio.Reader
}

// System returns the real streams.
func System() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		stdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		stdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		stderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		noColor:   os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb",
	}
}

// Test returns streams backed by buffers, none a TTY until set.
func Test() (ios *IOStreams, in *bytes.Buffer, out *bytes.Buffer, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

func (s *IOStreams) IsStdinTTY() bool  { return s.stdinTTY }
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

func (s *IOStreams) SetStdinTTY(v bool)  { s.stdinTTY = v }
func (s *IOStreams) SetStdoutTTY(v bool) { s.stdoutTTY = v }
func (s *IOStreams) SetStderrTTY(v bool) { s.stderrTTY = v }
func (s *IOStreams) SetNoColor(v bool)   { s.noColor = v }

// ColorEnabled is true only on a terminal and never with NO_COLOR.
func (s *IOStreams) ColorEnabled() bool { return s.stdoutTTY && !s.noColor }

// CanPrompt reports whether the user can be asked questions: both stdin and stderr (where
// prompts go) are terminals.
func (s *IOStreams) CanPrompt() bool { return s.stdinTTY && s.stderrTTY }

// TerminalWidth is the width of the terminal on stdout, or 80 when it is unknown.
func (s *IOStreams) TerminalWidth() int {
	if s.termWidth > 0 {
		return s.termWidth
	}
	if f, ok := s.Out.(*os.File); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	return 80
}

// SetTerminalWidth fixes the width reported by TerminalWidth (tests).
func (s *IOStreams) SetTerminalWidth(w int) { s.termWidth = w }

// ReadLine reads one line from In without its line ending. Reads share one buffer, so that
// several answers piped in one after the other are not lost between calls.
func (s *IOStreams) ReadLine() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inBuf == nil {
		s.inBuf = bufio.NewReader(s.In)
	}
	line, err := s.inBuf.ReadString('\n')
	if err == io.EOF && line != "" {
		err = nil
	}
	return strings.TrimRight(line, "\r\n"), err
}

// Prompt writes question to ErrOut and reads the answer, echoed, from In. End of input with
// no answer (^D) is ErrNoInput; on a real terminal Ctrl-C is ErrInterrupted, not a kill.
func (s *IOStreams) Prompt(question string) (string, error) {
	fmt.Fprint(s.ErrOut, question)
	if f := s.terminalIn(); f != nil {
		return interruptible(s.readAnswer)
	}
	return s.readAnswer()
}

// PromptSecret writes question to ErrOut and reads an answer that is not echoed. On a real
// terminal the line is read in raw mode (see readSecretTTY); with a fake terminal (tests) the
// same key handling runs over In, so ^C, ^D and backspace behave alike.
func (s *IOStreams) PromptSecret(question string) (string, error) {
	fmt.Fprint(s.ErrOut, question)
	if f := s.terminalIn(); f != nil {
		pw, err := readSecretTTY(f)
		fmt.Fprintln(s.ErrOut) // the user's Enter was not echoed either
		return pw, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inBuf == nil {
		s.inBuf = bufio.NewReader(s.In)
	}
	return readSecret(s.inBuf)
}

// terminalIn is In when it is a real terminal, else nil.
func (s *IOStreams) terminalIn() *os.File {
	if f, ok := s.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}

// readAnswer is ReadLine with end of input turned into ErrNoInput.
func (s *IOStreams) readAnswer() (string, error) {
	line, err := s.ReadLine()
	if err == io.EOF {
		return "", ErrNoInput
	}
	return line, err
}
