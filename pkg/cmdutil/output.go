package cmdutil

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
)

// AddOutputFlag adds -o/--output to a read command; the value is "" (table or text) or "json".
func AddOutputFlag(cmd *cobra.Command, target *string) {
	cmd.Flags().StringVarP(target, "output", "o", "", "output format: json")
}

// CheckOutput validates an -o value.
func CheckOutput(v string) error {
	switch v {
	case "", "table", "text", "json":
		return nil
	}
	return Usagef("unknown output format %q (use -o json, or nothing for a table)", v)
}

// WantJSON reports whether the -o value asks for JSON.
func WantJSON(v string) bool { return v == "json" }

// PrintJSON writes v as indented JSON with a final newline.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Age renders how long ago t was, as people say it: "10s ago", "3m ago", "5h ago", "2d ago".
func Age(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
}

// When renders a past time for a table: an Age on a terminal, RFC 3339 in UTC for scripts
// (which would otherwise parse "5h ago"), "-" when t is zero.
func When(tty bool, now, t time.Time) string {
	switch {
	case t.IsZero():
		return "-"
	case tty:
		return Age(now, t)
	}
	return t.UTC().Format(time.RFC3339)
}

// Until renders a future time relative to now: "in 29d", "in 5m"; "expired 3m ago" when past.
func Until(now, t time.Time) string {
	d := t.Sub(now)
	if d <= 0 {
		return "expired " + Age(now, t)
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("in %ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("in %dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("in %dh", int(d/time.Hour))
	default:
		return fmt.Sprintf("in %dd", int(d/(24*time.Hour)))
	}
}
