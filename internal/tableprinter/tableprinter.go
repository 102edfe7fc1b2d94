// Package tableprinter prints rows for people and for programs. On a terminal it draws an
// aligned table (tablewriter) with a styled header (lipgloss, only when colour is allowed);
// anywhere else it prints a header line and tab-separated rows that cut and awk can split.
package tableprinter

import (
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/ooctl/oo/pkg/iostreams"
)

// Printer collects rows and prints them on Render.
type Printer struct {
	out     io.Writer
	tty     bool
	styles  Styles
	headers []string
	rows    [][]string
}

// New returns a printer for ios.Out with the given column headers.
func New(ios *iostreams.IOStreams, headers ...string) *Printer {
	return &Printer{out: ios.Out, tty: ios.IsStdoutTTY(), styles: NewStyles(ios), headers: headers}
}

// AddRow adds one row; missing cells are blank.
func (p *Printer) AddRow(cells ...string) { p.rows = append(p.rows, cells) }

// Styles returns the styles in effect, so callers can colour a cell (a no-op without colour).
func (p *Printer) Styles() Styles { return p.styles }

// Render prints the table.
func (p *Printer) Render() error {
	if !p.tty {
		return p.renderPlain()
	}
	t := tablewriter.NewTable(p.out,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off},
			},
			Symbols: tw.NewSymbols(tw.StyleNone),
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithTrimSpace(tw.Off),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: "  ", Overwrite: true}),
	)
	hdr := make([]any, len(p.headers))
	for i, h := range p.headers {
		hdr[i] = p.styles.Header.Render(h)
	}
	t.Header(hdr...)
	for _, r := range p.rows {
		row := make([]any, len(p.headers))
		for i := range row {
			if i < len(r) {
				row[i] = r[i]
			} else {
				row[i] = ""
			}
		}
		if err := t.Append(row...); err != nil {
			return err
		}
	}
	return t.Render()
}

func (p *Printer) renderPlain() error {
	var b strings.Builder
	b.WriteString(strings.Join(p.headers, "\t"))
	b.WriteByte('\n')
	for _, r := range p.rows {
		cells := make([]string, len(p.headers))
		for i := range cells {
			if i < len(r) {
				// A tab or newline inside a cell would break the columns a script splits on.
				cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(r[i])
			}
		}
		b.WriteString(strings.Join(cells, "\t"))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(p.out, b.String())
	return err
}

// Styles are the few styles oo uses. Without colour every one renders text unchanged.
type Styles struct {
	Header, Good, Warn, Bad, Dim lipgloss.Style
}

// NewStyles builds styles for ios: ANSI colours on a terminal unless NO_COLOR, plain otherwise.
func NewStyles(ios *iostreams.IOStreams) Styles {
	r := lipgloss.NewRenderer(ios.Out)
	if ios.ColorEnabled() {
		r.SetColorProfile(termenv.ANSI)
	} else {
		r.SetColorProfile(termenv.Ascii)
	}
	return Styles{
		Header: r.NewStyle().Bold(true),
		Good:   r.NewStyle().Foreground(lipgloss.Color("2")),
		Warn:   r.NewStyle().Foreground(lipgloss.Color("3")),
		Bad:    r.NewStyle().Foreground(lipgloss.Color("1")),
		Dim:    r.NewStyle().Faint(true),
	}
}

// Fprintf is a helper for callers printing a styled line.
func Fprintf(w io.Writer, s lipgloss.Style, format string, args ...any) {
	fmt.Fprint(w, s.Render(fmt.Sprintf(format, args...)))
}
