package api

import "fmt"

// MaxSlugLen keeps a slug usable as a DNS label as well as a path segment.
const MaxSlugLen = 63

// CheckSlug is the one rule for slugs, used by the server (400) and by the CLI before it creates
// anything (a usage error): lowercase letters, digits and '-', 1–63 characters, not starting or
// ending with '-', not one of ReservedSlugs.
func CheckSlug(slug string) error {
	if slug == "" {
		return fmt.Errorf("slug is required")
	}
	if len(slug) > MaxSlugLen {
		return fmt.Errorf("slug %q is longer than %d characters", slug[:20]+"...", MaxSlugLen)
	}
	for i := 0; i < len(slug); i++ {
		c := slug[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("slug %q may contain only lowercase letters, digits and '-'", slug)
		}
	}
	if slug[0] == '-' || slug[len(slug)-1] == '-' {
		return fmt.Errorf("slug %q may not start or end with '-'", slug)
	}
	if ReservedSlugs[slug] {
		return fmt.Errorf("slug %q is reserved by the server", slug)
	}
	return nil
}
