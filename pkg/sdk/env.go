package sdk

import (
	"os"
	"path/filepath"
	"runtime"

	"github.com/ooctl/oo/pkg/api"
)

// Environment variables the SDK reads. `oo service run` sets all of them for its children.
// The names are defined in pkg/api; these are kept for programs that use them.
const (
	EnvURL         = api.EnvURL
	EnvURLOB       = api.EnvURLOB       // name used by programs written for 1Backend
	EnvURLOpenOrch = api.EnvURLOpenOrch // older name of the same
	EnvSelfURL     = api.EnvSelfURL
	EnvPort        = api.EnvPort
	EnvToken       = api.EnvToken
	EnvSlug        = api.EnvSlug
)

// ServerURLFromEnv returns the server's URL from OO_URL, OB_URL or OPENORCH_URL (first set
// wins), or api.DefaultURL.
func ServerURLFromEnv() string {
	for _, k := range api.URLVars {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return api.DefaultURL
}

// DefaultCredentialsDir is where services keep the passwords they created for themselves:
// $XDG_DATA_HOME/oo/services, falling back to the platform's usual data directory. It does not
// use the CLI's keyring on purpose: a service is often a headless process with no session bus.
func DefaultCredentialsDir() string {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		switch runtime.GOOS {
		case "windows":
			base = os.Getenv("LOCALAPPDATA")
		case "darwin":
			if h, err := os.UserHomeDir(); err == nil {
				base = filepath.Join(h, "Library", "Application Support")
			}
		}
	}
	if base == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			h = os.TempDir()
		}
		base = filepath.Join(h, ".local", "share")
	}
	return filepath.Join(base, "oo", "services")
}
