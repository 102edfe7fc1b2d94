package tableprinter

import (
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/iostreams"
)

func TestPlainWhenPiped(t *testing.T) {
	ios, _, out, _ := iostreams.Test()
	p := New(ios, "ID", "URL", "OWNER SLUG")
	p.AddRow("inst_1", "http://x:1", "svc\twith tab")
	p.AddRow("inst_2")
	if err := p.Render(); err != nil {
		t.Fatal(err)
	}
	want := "ID\tURL\tOWNER SLUG\ninst_1\thttp://x:1\tsvc with tab\ninst_2\t\t\n"
	if out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
}

func TestAlignedOnTTY(t *testing.T) {
	ios, _, out, _ := iostreams.Test()
	ios.SetStdoutTTY(true)
	ios.SetNoColor(true)
	p := New(ios, "ID", "URL", "LAST HEARTBEAT")
	p.AddRow("inst_eHFTNvAlk9", "http://127.0.0.1:9311", "10s ago")
	p.AddRow("i2", "http://h:1", "-")
	if err := p.Render(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header + 2 rows, got %q", out.String())
	}
	if strings.Contains(out.String(), "\t") || strings.Contains(out.String(), "\x1b[") {
		t.Fatalf("TTY table without colour must be spaces only: %q", out.String())
	}
	// Columns line up: the URL column starts at the same offset on every line.
	col := strings.Index(lines[0], "URL")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[col:], "http://") {
			t.Fatalf("misaligned column in %q (header %q)", l, lines[0])
		}
	}
	if !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[0], "LAST HEARTBEAT") {
		t.Fatalf("header kept verbatim: %q", lines[0])
	}
}

func TestColourOnlyOnTTY(t *testing.T) {
	ios, _, out, _ := iostreams.Test()
	ios.SetStdoutTTY(true)
	p := New(ios, "ID")
	p.AddRow(p.Styles().Good.Render("Healthy"))
	if err := p.Render(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\x1b[") {
		t.Fatalf("want ANSI styling on a colour TTY, got %q", out.String())
	}
	ios2, _, out2, _ := iostreams.Test()
	p2 := New(ios2, "ID")
	p2.AddRow(p2.Styles().Good.Render("Healthy"))
	_ = p2.Render()
	if strings.Contains(out2.String(), "\x1b[") {
		t.Fatalf("no ANSI when piped, got %q", out2.String())
	}
}
