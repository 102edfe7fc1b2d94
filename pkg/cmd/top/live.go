package top

import (
	"context"
	"io"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"golang.org/x/term"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// Terminal control sequences the live view writes.
const (
	enterScreen = "\x1b[?1049h\x1b[?25l" // alternate screen, hide the cursor
	leaveScreen = "\x1b[?25h\x1b[?1049l" // show the cursor, back to the normal screen
	home        = "\x1b[H"
	clearLine   = "\x1b[K" // to the end of the line
	clearBelow  = "\x1b[J" // to the end of the screen
)

// Keys read in raw mode (where Ctrl-C arrives as a byte, not as SIGINT).
const (
	keyCtrlC = 0x03
	keyTab   = '\t'
)

// terminal is what the key loop touches: keys in, frames out, the current size. Tests pass a
// strings.Reader and a buffer.
type terminal struct {
	keys  io.Reader
	out   io.Writer
	size  func() (width, height int)
	style styles
}

// live runs the full-screen view on the real terminal: raw mode on stdin, so keys arrive
// one by one and Ctrl-C is a key, and the alternate screen on stdout, so quitting gives the
// shell back as it was.
func (o *Options) live(ctx context.Context, s *cmdutil.Session, c *client.Client) error {
	in, inOK := o.IO.In.(*os.File)
	out, outOK := o.IO.Out.(*os.File)
	if !inOK || !outOK {
		return cmdutil.Usagef("oo top needs a terminal on stdin and stdout; in a script use `oo top -o json --once`")
	}
	old, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return err
	}
	// Runs on return and while a panic unwinds, before the runtime prints it on a sane terminal.
	defer func() { _ = term.Restore(int(in.Fd()), old) }()
	t := terminal{
		keys: in,
		out:  out,
		size: func() (int, int) {
			w, h, err := term.GetSize(int(out.Fd()))
			if err != nil {
				return 80, 24
			}
			return w, h
		},
		style: newStyles(out, o.IO.ColorEnabled()),
	}
	src := source{
		fetch:    c.Top,
		target:   s.URL,
		interval: o.interval,
		now:      o.Now,
		explain:  func(err error) string { return o.Explain(s, err).Error() },
	}
	// An auth error comes back after the restore, so the root prints it on the normal screen.
	return loop(ctx, t, src)
}

// source is where the frames' figures come from.
type source struct {
	fetch    func(context.Context) (*api.TopResponse, error)
	target   string // the server, for the title
	interval time.Duration
	now      func() time.Time
	explain  func(error) string // an error worded for the status line
}

func newStyles(out io.Writer, color bool) styles {
	r := lipgloss.NewRenderer(out)
	if color {
		r.SetColorProfile(termenv.ANSI)
	} else {
		r.SetColorProfile(termenv.Ascii)
	}
	return styles{
		title:  r.NewStyle().Bold(true),
		header: r.NewStyle().Bold(true).Reverse(true),
		bad:    r.NewStyle().Foreground(lipgloss.Color("1")),
		warn:   r.NewStyle().Foreground(lipgloss.Color("3")),
		dim:    r.NewStyle().Faint(true),
	}
}

// loop draws a frame each interval and on every key or size change until q, Ctrl-C, the end
// of ctx (SIGTERM), the end of the keys, or an auth error. Whatever ends it, the screen is
// restored: the deferred write also runs when a panic unwinds.
func loop(ctx context.Context, t terminal, src source) error {
	if _, err := io.WriteString(t.out, enterScreen); err != nil {
		return err
	}
	defer func() { _, _ = io.WriteString(t.out, leaveScreen) }()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	keys := make(chan byte, 16)
	go readKeys(ctx, t.keys, keys)

	type answer struct {
		top *api.TopResponse
		err error
	}
	answers := make(chan answer, 1)
	poll := func() {
		go func() {
			top, err := src.fetch(ctx)
			answers <- answer{top, err}
		}()
	}
	poll()
	fetching := true

	v := view{target: src.target, now: src.now()}
	w, h := t.size()
	draw := func() error {
		v.now = src.now()
		_, err := io.WriteString(t.out, frame(render(v, t.style, w, h)))
		return err
	}
	if err := draw(); err != nil {
		return err
	}
	// The refresh tick also checks the size, four times a second, so a resized window is
	// redrawn quickly without SIGWINCH (which Windows lacks).
	const sizeCheck = 250 * time.Millisecond
	tick := time.NewTicker(sizeCheck)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case b, ok := <-keys:
			if !ok {
				return nil // stdin closed: nobody can press q any more
			}
			switch {
			case b == 'q' || b == 'Q' || b == keyCtrlC:
				return nil
			case b == keyTab:
				v.sortBy = (v.sortBy + 1) % numKeys
			default:
				k, ok := keyLetters[b]
				if !ok {
					continue
				}
				v.sortBy = k
			}
		case a := <-answers:
			fetching = false
			if a.err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if fatal(a.err) {
					return a.err
				}
				v.status = oneLine(src.explain(a.err))
			} else {
				v.top, v.status = a.top, ""
			}
		case <-tick.C:
			if nw, nh := t.size(); nw != w || nh != h {
				w, h = nw, nh
				break
			}
			if fetching || time.Since(last) < src.interval {
				continue
			}
			last = time.Now()
			fetching = true
			poll()
			continue
		}
		if err := draw(); err != nil {
			return err
		}
	}
}

// oneLine folds a message onto one line for the status line.
func oneLine(msg string) string { return strings.Join(strings.Fields(msg), " ") }

// frame turns a rendered view into what the terminal gets: from the top-left corner, each line
// clearing what an older, longer frame left, then everything below. No full clear, so no
// flicker.
func frame(s string) string {
	var b strings.Builder
	b.WriteString(home)
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteString("\r\n") // raw mode: \n alone does not return the carriage
		}
		b.WriteString(line)
		b.WriteString(clearLine)
	}
	b.WriteString(clearBelow)
	return b.String()
}

// readKeys sends each byte read to keys and closes keys at the end of input.
func readKeys(ctx context.Context, r io.Reader, keys chan<- byte) {
	defer close(keys)
	buf := make([]byte, 64)
	for {
		n, err := r.Read(buf)
		for _, b := range buf[:n] {
			select {
			case keys <- b:
			case <-ctx.Done():
				return
			}
		}
		if err != nil {
			return
		}
	}
}
