package top

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/ooctl/oo/pkg/api"
)

// sortKey is the column the live view sorts by; each has a one-letter key.
type sortKey int

const (
	byRPS sortKey = iota
	byP99
	byErrors
	byInFlight
	byHealthy
	byName
	numKeys
)

// keyLetters maps a pressed key to its sort column (Tab cycles through them in this order).
var keyLetters = map[byte]sortKey{'r': byRPS, 'p': byP99, 'e': byErrors, 'i': byInFlight, 'h': byHealthy, 'n': byName}

var sortNames = [numKeys]string{"req/s", "p99", "error %", "in-flight", "healthy (least first)", "slug"}

// sortSlugs orders rows by key: the busiest, slowest, most failing or least healthy first,
// names A-Z; ties by slug, so rows do not jump between frames.
func sortSlugs(rows []api.SlugTop, key sortKey) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		var less, more bool
		switch key {
		case byRPS:
			less, more = a.RPS > b.RPS, a.RPS < b.RPS
		case byP99:
			less, more = a.P99Ms > b.P99Ms, a.P99Ms < b.P99Ms
		case byErrors:
			less, more = a.ErrorRate > b.ErrorRate, a.ErrorRate < b.ErrorRate
		case byInFlight:
			less, more = a.InFlight > b.InFlight, a.InFlight < b.InFlight
		case byHealthy:
			fa, fb := healthFraction(a), healthFraction(b)
			less, more = fa < fb, fa > fb
		}
		if less || more {
			return less
		}
		return a.Slug < b.Slug
	})
}

// healthFraction is healthy/instances; a slug without instances counts as fully unhealthy,
// since nothing can serve its traffic.
func healthFraction(s api.SlugTop) float64 {
	if s.Instances == 0 {
		return 0
	}
	return float64(s.Healthy) / float64(s.Instances)
}

// view is everything one frame shows.
type view struct {
	target string           // the server, for the title
	top    *api.TopResponse // nil until the first answer
	sortBy sortKey
	status string // the last fetch error ("" when it worked)
	now    time.Time
}

// styles colour a frame; zero styles render plain text (tests, NO_COLOR).
type styles struct {
	title, header, bad, warn, dim lipgloss.Style
}

// columns of the table; the slug column takes what the others leave.
var columns = []struct {
	name  string
	key   sortKey
	width int
}{
	{"SLUG", byName, 0},
	{"REQ/S", byRPS, 9},
	{"P50", byP99, 9}, // p sorts by p99; P50 is shown beside it
	{"P99", byP99, 9},
	{"ERR%", byErrors, 7},
	{"IN-FLIGHT", byInFlight, 10},
	{"HEALTHY", byHealthy, 9},
}

// cells formats one slug's figures, in column order.
func cells(s api.SlugTop) []string {
	return []string{
		s.Slug,
		fmt.Sprintf("%.1f", s.RPS),
		ms(s.P50Ms),
		ms(s.P99Ms),
		fmt.Sprintf("%.1f", 100*s.ErrorRate),
		fmt.Sprintf("%d", s.InFlight),
		fmt.Sprintf("%d/%d", s.Healthy, s.Instances),
	}
}

// ms renders a latency; "-" when the window had no requests.
func ms(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	case v < 1000:
		return fmt.Sprintf("%.0fms", v)
	}
	return fmt.Sprintf("%.1fs", v/1000)
}

// render draws a frame of at most height lines, none wider than width. It is pure, so tests
// check what a person sees without a terminal.
func render(v view, st styles, width, height int) string {
	if width < 20 {
		width = 20
	}
	if height < 5 {
		height = 5
	}
	var lines []string
	add := func(s lipgloss.Style, text string) { lines = append(lines, s.Render(fit(text, width))) }

	title := "oo top  " + v.target
	if v.top != nil {
		title += fmt.Sprintf("  window %s", v.top.Window)
	}
	title += fmt.Sprintf("  sorted by %s  %s", sortNames[v.sortBy], v.now.Format("15:04:05"))
	add(st.title, title)
	switch {
	case v.status != "":
		add(st.bad, v.status+" (retrying every second)")
	case v.top != nil && v.top.MetricsOff:
		add(st.warn, "metrics are off on this server (--metrics off): only instance counts are live")
	default:
		lines = append(lines, "")
	}

	slugW := 4
	var rows []api.SlugTop
	if v.top != nil {
		rows = append(rows, v.top.Slugs...)
		sortSlugs(rows, v.sortBy)
	}
	for _, r := range rows {
		slugW = max(slugW, len([]rune(r.Slug)))
	}
	fixed := 0
	for _, c := range columns[1:] {
		fixed += c.width
	}
	// The slug column gets what the figures leave, but at most 40 and at least 8.
	slugW = min(slugW+2, max(8, width-fixed), 40)

	row := func(cs []string) string {
		var b strings.Builder
		for i, c := range cs {
			w := columns[i].width
			if i == 0 {
				w = slugW
				c = fit(c, w-1)
				b.WriteString(c + strings.Repeat(" ", w-len([]rune(c))))
				continue
			}
			b.WriteString(fmt.Sprintf("%*s", w, c))
		}
		return b.String()
	}
	hdr := make([]string, len(columns))
	for i, c := range columns {
		hdr[i] = c.name
		if c.key == v.sortBy && (i != 2) { // mark P99, not P50, for p
			hdr[i] = "▼" + c.name
		}
	}
	add(st.header, row(hdr))

	footer := "q: quit   r p e i h n: sort   Tab: next sort"
	room := height - len(lines) - 1 // keep the last line for the footer
	switch {
	case v.top == nil && v.status == "":
		add(st.dim, "waiting for the first answer...")
	case v.top != nil && len(rows) == 0:
		add(st.dim, "no slugs: no instances registered and no traffic in the window")
	}
	for i, r := range rows {
		if i == room-1 && len(rows) > room {
			add(st.dim, fmt.Sprintf("... %d more (make the window taller)", len(rows)-i))
			break
		}
		s := lipgloss.NewStyle()
		switch {
		case r.ErrorRate >= 0.05 || (r.Instances > 0 && r.Healthy == 0):
			s = st.bad
		case r.Healthy < r.Instances || r.Instances == 0:
			s = st.warn
		}
		add(s, row(cells(r)))
	}
	for len(lines) < height-1 {
		lines = append(lines, "")
	}
	add(st.dim, footer)
	return strings.Join(lines, "\n")
}

// fit cuts text to width runes, marking a cut with "…".
func fit(text string, width int) string {
	r := []rune(text)
	if len(r) <= width {
		return text
	}
	if width <= 1 {
		return string(r[:width])
	}
	return string(r[:width-1]) + "…"
}
