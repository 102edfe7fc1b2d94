package cmdutil

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ooctl/oo/pkg/client"
)

// One wrapper type carries an exit code, a message for people, or both, around any cause.
func TestErrorWrapper(t *testing.T) {
	notFound := &client.Error{Status: 404, Message: "no such instance"}
	for _, c := range []struct {
		name    string
		err     error
		code    int
		msg     string
		explain bool
		silent  bool
	}{
		{"api error", notFound, ExitNotFound, "no such instance", true, false},
		{"worded: the cause's code", AsIs(notFound, "gone"), ExitNotFound, "gone", false, false},
		{"worded, then a code", WithCode(ExitConflict, AsIs(notFound, "taken")), ExitConflict, "taken", false, false},
		{"a code around a worded one, further wrapped", fmt.Errorf("x: %w", WithCode(ExitAuth, AsIs(notFound, "no"))), ExitAuth, "x: no", false, false},
		{"usage", Usagef("bad %s", "flag"), ExitUsage, "bad flag", false, false},
		{"joined", errors.Join(errors.New("a"), Usagef("b")), ExitUsage, "a\nb", false, false},
		{"silent", &Error{Code: 3, Silent: true}, 3, "exit status 3", false, true},
	} {
		if got := ExitCode(c.err); got != c.code {
			t.Errorf("%s: exit %d, want %d", c.name, got, c.code)
		}
		if c.err.Error() != c.msg {
			t.Errorf("%s: message %q, want %q", c.name, c.err.Error(), c.msg)
		}
		if NeedsExplaining(c.err) != c.explain {
			t.Errorf("%s: NeedsExplaining %v", c.name, !c.explain)
		}
		if IsSilent(c.err) != c.silent {
			t.Errorf("%s: IsSilent %v", c.name, !c.silent)
		}
		var ce *client.Error
		if c.code == ExitNotFound && !errors.As(c.err, &ce) {
			t.Errorf("%s: the cause is lost", c.name)
		}
	}
}
