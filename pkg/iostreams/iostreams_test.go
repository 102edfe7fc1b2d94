package iostreams

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestReadLineSharesBuffer(t *testing.T) {
	ios, in, _, errOut := Test()
	in.WriteString("alice\r\nsecret\nlast")
	a, err := ios.Prompt("Slug: ")
	if err != nil || a != "alice" {
		t.Fatalf("%q %v", a, err)
	}
	// A fake terminal: the secret is read as a line, and not written anywhere.
	b, err := ios.PromptSecret("Password: ")
	if err != nil || b != "secret" {
		t.Fatalf("%q %v", b, err)
	}
	c, err := ios.ReadLine()
	if err != nil || c != "last" {
		t.Fatalf("a last line without newline: %q %v", c, err)
	}
	if _, err := ios.ReadLine(); err == nil {
		t.Fatal("want EOF")
	}
	if errOut.String() != "Slug: Password: " || strings.Contains(errOut.String(), "secret") {
		t.Fatalf("prompts: %q", errOut.String())
	}
}

func TestCanPromptAndColour(t *testing.T) {
	ios, _, _, _ := Test()
	if ios.CanPrompt() || ios.ColorEnabled() {
		t.Fatal("test streams start as non-terminals")
	}
	ios.SetStdinTTY(true)
	ios.SetStderrTTY(true)
	ios.SetStdoutTTY(true)
	if !ios.CanPrompt() || !ios.ColorEnabled() {
		t.Fatal("terminals")
	}
	ios.SetNoColor(true)
	if ios.ColorEnabled() {
		t.Fatal("NO_COLOR")
	}
	if ios.TerminalWidth() != 80 {
		t.Fatal("default width")
	}
}

// Key handling of a hidden prompt, as a raw terminal delivers keys: ^C interrupts (exit 3, not
// a kill with echo off), ^D or end of input gives ErrNoInput instead of hanging, backspace edits.
func TestReadSecretKeys(t *testing.T) {
	cases := []struct {
		in      string
		want    string
		wantErr error
	}{
		{"secret\r", "secret", nil},
		{"secret\n", "secret", nil},
		{"sex\x7fcret\r", "secret", nil},
		{"junk\x15secret\r", "secret", nil},
		{"sec\x03", "", ErrInterrupted},
		{"\x04", "", ErrNoInput},
		{"", "", ErrNoInput},
	}
	for _, c := range cases {
		// A pipe stands in for the terminal: reads return what was written, then end of input.
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = w.WriteString(c.in); _ = w.Close() }()
		got, err := readSecret(byteReader{r})
		_ = r.Close()
		if got != c.want || !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
			t.Errorf("%q: got %q, %v; want %q, %v", c.in, got, err, c.want, c.wantErr)
		}
	}
	if !errors.Is(ErrInterrupted, context.Canceled) || ErrInterrupted.Error() != "interrupted" {
		t.Fatal("ErrInterrupted must map to the interrupted exit code")
	}
}

// A fake terminal takes the same keys, so command tests can press ^C and ^D.
func TestFakeTerminalPrompts(t *testing.T) {
	ios, in, _, _ := Test()
	in.WriteString("\x03")
	if _, err := ios.PromptSecret("Password: "); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("^C: %v", err)
	}
	if _, err := ios.Prompt("Slug: "); !errors.Is(err, ErrNoInput) {
		t.Fatalf("EOF at Slug: %v", err)
	}
}
