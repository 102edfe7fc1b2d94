package service

import (
	"os"
	"path/filepath"
	"strings"
)

// interpreters run a script named by their first non-flag argument, which then names the
// service better than the interpreter does. Package-script runners (npm start, yarn dev) name
// no script at all.
var interpreters = map[string]bool{
	"python": true, "python2": true, "python3": true, "pypy": true, "pypy3": true, "node": true, "nodejs": true,
	"deno": true, "bun": true, "ruby": true, "perl": true, "php": true, "sh": true, "bash": true, "zsh": true,
	"dash": true, "fish": true, "java": true, "go": true, "uv": true, "npx": true, "pnpx": true, "bunx": true,
	"dotnet": true, "lua": true, "elixir": true, "racket": true, "Rscript": true,
}

var scriptRunners = map[string]bool{"npm": true, "pnpm": true, "yarn": true}

// interpreterName is a command's name without its directory, an .exe or, for a known
// interpreter, a version ("/usr/bin/python3.11" is python, "node18" is node).
func interpreterName(cmd string) string {
	name := strings.TrimSuffix(filepath.Base(cmd), ".exe")
	if interpreters[name] || scriptRunners[name] {
		return name
	}
	if v := strings.TrimRight(name, "0123456789."); v != name && (interpreters[v] || scriptRunners[v]) {
		return v
	}
	return name
}

func isInterpreter(cmd string) bool {
	n := interpreterName(cmd)
	return interpreters[n] || scriptRunners[n]
}

// SlugFromCommand derives a slug from a command line: the program's base name, or the script's
// for an interpreter ("python3 app.py" gives "app"), lowercased with anything outside [a-z0-9-]
// turned into '-'. It returns "" when nothing usable is left, and for an interpreter or runner
// with no script to name ("python3 -m http.server", "npm start", "/usr/bin/python3.11").
func SlugFromCommand(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	name := filepath.Base(argv[0])
	name = strings.TrimSuffix(name, filepath.Ext(name))
	if in := interpreterName(argv[0]); scriptRunners[in] {
		return ""
	} else if interpreters[in] {
		name = ""
	scan:
		for _, a := range argv[1:] {
			switch {
			case a == "-m" || a == "-c" || a == "-e" || a == "--eval" || a == "-r" || a == "--":
				break scan // a module or inline code: no script file names the service
			case strings.HasPrefix(a, "-") || a == "run" || a == "exec" || a == "x":
				continue
			}
			if a == "." || a == "./" {
				if wd, err := os.Getwd(); err == nil {
					a = wd
				}
			}
			name = strings.TrimSuffix(filepath.Base(strings.TrimRight(a, "/")), filepath.Ext(a))
			break
		}
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	return s
}
