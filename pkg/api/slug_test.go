package api

import (
	"strings"
	"testing"
)

func TestCheckSlug(t *testing.T) {
	for slug, want := range map[string]string{
		"a":                     "",
		"skeleton-svc":          "",
		"a1-b2":                 "",
		strings.Repeat("a", 63): "",
		"":                      "required",
		strings.Repeat("a", 64): "longer than 63",
		"Bad":                   "only lowercase",
		"a_b":                   "only lowercase",
		"ä":                     "only lowercase",
		"-a":                    "start or end",
		"a-":                    "start or end",
		"user-svc":              "reserved",
		"registry-svc":          "reserved",
	} {
		err := CheckSlug(slug)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", slug, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: %v, want an error saying %q", slug, err, want)
		}
	}
}
