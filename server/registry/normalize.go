package registry

import (
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
)

// NormalizeURL returns raw in canonical form (see api.TargetURL): two spellings of one address
// compare equal, or ownership could be sidestepped by writing HTTP://LocalHost:80/ or
// http://[::ffff:127.0.0.1]:80 instead of http://127.0.0.1:80.
func NormalizeURL(raw string) (string, error) {
	p, err := parseInstanceURL(raw)
	if err != nil {
		return "", err
	}
	return p.Canonical, nil
}

// parseInstanceURL is api.ParseTargetURL with its errors as 400s.
func parseInstanceURL(raw string) (api.TargetURL, error) {
	t, err := api.ParseTargetURL(raw)
	if err != nil {
		return api.TargetURL{}, apierr.BadRequest("%s", err.Error())
	}
	return t, nil
}
