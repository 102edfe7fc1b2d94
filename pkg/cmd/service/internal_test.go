package service

import (
	"testing"
)

func TestSlugFromCommand(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"./mysvc"}, "mysvc"},
		{[]string{"/opt/bin/Skeleton_Svc.exe"}, "skeleton-svc"},
		{[]string{"python3", "-u", "app.py"}, "app"},
		{[]string{"go", "run", "./cmd/hello-svc/"}, "hello-svc"},
		{[]string{"node", "server.js", "--port", "1"}, "server"},
		{[]string{"__"}, ""},
		{[]string{"sleep", "1"}, "sleep"},
		{[]string{"./go-svc"}, "go-svc"},
		{[]string{"/usr/bin/python3.11"}, ""},
		{[]string{"/usr/bin/python3.11", "srv/app.py"}, "app"},
		{[]string{"python3", "-m", "http.server"}, ""},
		{[]string{"npm", "start"}, ""},
		{[]string{"java", "-jar", "build/api.jar"}, "api"},
	} {
		if got := SlugFromCommand(c.argv); got != c.want {
			t.Errorf("SlugFromCommand(%q) = %q, want %q", c.argv, got, c.want)
		}
	}
}
