package iostreams

import (
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
