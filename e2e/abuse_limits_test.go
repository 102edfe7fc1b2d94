package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestServerAbuseLimitsFromFlagsAndEnv: the limits of issue 11 reach the real binary through
// its flags and environment: a stalled proxied body ends with 408 after
// --proxy-body-idle-timeout, failed logins past OO_LOGIN_FAILURES are 429, and an account's
// instances past OO_MAX_INSTANCES are 403.
func TestServerAbuseLimitsFromFlagsAndEnv(t *testing.T) {
	t.Parallel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"hello":"world"}`))
	}))
	defer backend.Close()
	e := newEnv(t).With("OO_LOGIN_FAILURES=2", "OO_MAX_INSTANCES=1")
	p := e.StartServer("--proxy-body-idle-timeout", "300ms", "--probe-interval", "0")
	serverAddInstance(t, p.URL, "limits-svc", backend.URL)

	conn, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /limits-svc/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\na")
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	rsp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("stalled body: no answer: %v", err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled body: HTTP %d, want 408", rsp.StatusCode)
	}

	for i := range 2 {
		if code, _ := serverLogin(t, p.URL, "limits-svc", "wrong-password"); code != http.StatusUnauthorized {
			t.Fatalf("failed login %d: HTTP %d", i+1, code)
		}
	}
	if code, _ := serverLogin(t, p.URL, "limits-svc", "limits-svc-password"); code != http.StatusTooManyRequests {
		t.Errorf("login after 2 failures with OO_LOGIN_FAILURES=2: HTTP %d, want 429", code)
	}

	_, tok := serverRegister(t, p.URL, "other-svc")
	for i, want := range []int{http.StatusCreated, http.StatusForbidden} {
		req, _ := http.NewRequest(http.MethodPut, p.URL+"/registry-svc/instance",
			strings.NewReader(fmt.Sprintf(`{"url":"http://127.0.0.1:%d"}`, 20001+i)))
		req.Header.Set("Authorization", "Bearer "+tok)
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rsp.Body.Close()
		if rsp.StatusCode != want {
			t.Errorf("instance %d with OO_MAX_INSTANCES=1: HTTP %d, want %d", i+1, rsp.StatusCode, want)
		}
	}
}
