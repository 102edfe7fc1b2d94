package root_test

import (
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmdutil"
)

// Usage errors name what the user has to give, and suggest what they probably meant, in
// groups as at the root.
func TestUsageHintsNameTheRightThing(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "")
	for _, c := range []struct {
		args []string
		want string
	}{
		// "--" ends the flags in "run [flags] -- COMMAND [ARGS...]": COMMAND is what is missing.
		{[]string{"service", "run"}, `oo service run needs COMMAND (see 'oo service run --help')`},
		{[]string{"instance", "lss"}, `oo instance has no command "lss" (did you mean ls?) (see 'oo instance --help')`},
		{[]string{"service", "regster"}, `oo service has no command "regster" (did you mean register?)`},
		// A whole URL given as PATH: the path is the suggestion, not "/http://...".
		{[]string{"call", "get", "http://host:8080/hello-svc/hi?x=1"}, `PATH is a path on the oo server, not a URL: try /hello-svc/hi?x=1`},
	} {
		r := h.Run(cmdtest.Piped, "", c.args...)
		cmdtest.MustFail(t, r, cmdutil.ExitUsage, "oo: "+c.want)
		if strings.Contains(r.Err, "ARGS") || strings.Contains(r.Err, "/http") {
			t.Errorf("%v: %q", c.args, r.Err)
		}
	}
}
