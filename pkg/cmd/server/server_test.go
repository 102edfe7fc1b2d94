package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmd/server"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
)

// startCmd runs `oo server start args...` in process and returns its error and stderr.
func startCmd(ctx context.Context, args ...string) (*bytes.Buffer, error) {
	ios, _, _, errOut := iostreams.Test()
	cmd := server.NewCmd(&cmdutil.Factory{IOStreams: ios})
	cmd.SetArgs(append([]string{"start"}, args...))
	cmd.SetOut(errOut)
	cmd.SetErr(errOut)
	err := cmd.ExecuteContext(ctx)
	return errOut, err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestStartRefusesBadFlagValues(t *testing.T) {
	for _, args := range [][]string{
		{"--registration", "sometimes"},
		{"--log-format", "xml"},
		{"--log-level", "loud"},
		{"--proxy-dial-timeout", "-1s"},
		{"--proxy-response-timeout", "-5ms"},
		{"--allow-targets", "10.0.0.0/33"},
		{"--allow-targets", "example.com"},
		{"--deny-targets", "10.0.0.1/8"},
		{"--proxy-body-idle-timeout", "-1s"},
		{"--login-failures", "-1"},
		{"--login-failure-window", "0s"},
		{"--max-instances", "-5"},
		{"--hash-concurrency", "-1"},
	} {
		_, err := startCmd(context.Background(), append(args, "--data-dir", t.TempDir(), "--addr", freeAddr(t))...)
		if code := cmdutil.ExitCode(err); code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d (%v), want usage error", args, code, err)
		}
	}
}

// A malformed number in the environment is a usage error, not the default in silence.
func TestStartRefusesBadIntegerEnv(t *testing.T) {
	for _, env := range []string{"OO_LOGIN_FAILURES", "OO_MAX_INSTANCES", "OO_HASH_CONCURRENCY"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "lots")
			_, err := startCmd(context.Background(), "--data-dir", t.TempDir(), "--addr", freeAddr(t))
			if code := cmdutil.ExitCode(err); code != cmdutil.ExitUsage || err == nil || !strings.Contains(err.Error(), env) {
				t.Errorf("%s=lots: exit %d (%v), want a usage error naming it", env, code, err)
			}
		})
	}
}

func TestStartOnBusyPortFailsFast(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// The address comes from the environment here, which also checks OO_ADDR is honoured.
	t.Setenv("OO_ADDR", busy.Addr().String())
	start := time.Now()
	_, err = startCmd(context.Background(), "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s to fail", d)
	}
	if code := cmdutil.ExitCode(err); code == cmdutil.ExitOK {
		t.Error("exit code 0 on failure")
	}
}

func TestStartServesAndStopsOnCancel(t *testing.T) {
	addr := freeAddr(t)
	t.Setenv("OO_ADMIN_PASSWORD", "admin-password-cmd")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		err    error
		stderr *bytes.Buffer
	}
	done := make(chan result, 1)
	go func() {
		stderr, err := startCmd(ctx, "--addr", addr, "--data-dir", t.TempDir(), "--token-ttl", "90m", "--probe-interval", "0")
		done <- result{err, stderr}
	}()

	// Poll until the server answers a login made with the password from the environment.
	body := `{"slug":"admin","password":"admin-password-cmd"}`
	deadline := time.Now().Add(30 * time.Second)
	var tok api.LoginResponse
	for {
		rsp, err := http.Post("http://"+addr+api.PathLogin, "application/json", strings.NewReader(body))
		if err == nil {
			code := rsp.StatusCode
			if code == http.StatusOK {
				err = json.NewDecoder(rsp.Body).Decode(&tok)
			}
			rsp.Body.Close()
			if code == http.StatusOK && err == nil {
				break
			}
			if code != http.StatusOK {
				t.Fatalf("admin login with OO_ADMIN_PASSWORD: HTTP %d", code)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not answer within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ttl := tok.Token.ExpiresAt.Sub(tok.Token.CreatedAt); ttl != 90*time.Minute {
		t.Errorf("token lifetime %s, want the --token-ttl of 90m", ttl)
	}

	cancel()
	select {
	case r := <-done:
		if r.err != nil {
			t.Errorf("start after cancel: %v", r.err)
		}
		if !strings.Contains(r.stderr.String(), "shutting down") {
			t.Errorf("no shutdown log line in:\n%s", r.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop within 15s of cancel")
	}
	if rsp, err := http.Get("http://" + addr + api.PathPublicKey); err == nil {
		rsp.Body.Close()
		t.Error("server still answers after it stopped")
	}
}

// A malformed target list in the environment is a usage error naming the flag, not ignored.
func TestStartRefusesBadTargetEnv(t *testing.T) {
	for _, env := range []string{"OO_ALLOW_TARGETS", "OO_DENY_TARGETS"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "10.0.0.0/8,not-a-cidr")
			_, err := startCmd(context.Background(), "--data-dir", t.TempDir(), "--addr", freeAddr(t))
			if code := cmdutil.ExitCode(err); code != cmdutil.ExitUsage || !strings.Contains(fmt.Sprint(err), "not-a-cidr") {
				t.Errorf("exit %d (%v), want a usage error naming the bad entry", code, err)
			}
		})
	}
}
