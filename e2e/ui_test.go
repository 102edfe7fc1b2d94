package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The dashboard (/ui/) in a real browser: headless Chromium driven over the DevTools protocol.

// uiChromium finds the browser. Without one the test skips, unless OO_REQUIRE_BROWSER is set
// (CI sets it, so there the test always runs).
func uiChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("OO_REQUIRE_BROWSER") != "" {
		t.Fatal("OO_REQUIRE_BROWSER is set but no chromium is on PATH (Debian: apt-get install chromium)")
	}
	t.Skip("no chromium on PATH (set OO_REQUIRE_BROWSER=1 to make this a failure)")
	return ""
}

// uiBrowser starts Chromium for one test and returns a tab's context. Nothing may leave the
// machine: no background networking, sync, component updates or metrics upload. The browser
// carries the test's owner mark, so a Chromium process that outlives the test fails it
// (newEnv's leftover check); the allocator's cancel kills it and waits.
func uiBrowser(t *testing.T, e *env, chrome string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1100, 720),
		chromedp.Env(e.Vars[0]), // the owner mark
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc) // runs last of the two: kills Chromium and waits for it
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	// The first Run starts the browser, bound to ctx (not to a timeout that would end it).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}
	return ctx
}

// uiConsole collects every console error, uncaught exception and browser log error of the tab
// (a failed request, a Content-Security-Policy violation).
type uiConsole struct {
	mu       sync.Mutex
	problems []string
}

func watchConsole(ctx context.Context) *uiConsole {
	c := &uiConsole{}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return // the tab ended
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				c.mu.Lock()
				c.problems = append(c.problems, m.String()+" ("+m.URL+")")
				c.mu.Unlock()
			}
		}
	}()
	return c
}

func (c *uiConsole) check(t *testing.T, when string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.problems) > 0 {
		t.Fatalf("browser console %s:\n%s", when, strings.Join(c.problems, "\n"))
	}
}

// uiDo runs browser actions bounded by d.
func uiDo(t *testing.T, ctx context.Context, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v\npage:\n%s", what, err, uiPageText(ctx))
	}
}

// uiPageText is what the page shows, for a failure's message.
func uiPageText(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return text
}

func uiEval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// uiRegisterInstance registers url for the account of tok and returns the instance id.
func uiRegisterInstance(t *testing.T, base, tok, url string) string {
	t.Helper()
	raw, _ := json.Marshal(map[string]string{"url": url})
	req, _ := http.NewRequest(http.MethodPut, base+"/registry-svc/instance", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	var out struct{ Instance struct{ ID string } }
	if err := json.NewDecoder(rsp.Body).Decode(&out); err != nil || rsp.StatusCode != http.StatusCreated || out.Instance.ID == "" {
		t.Fatalf("registering %s: HTTP %d %v", url, rsp.StatusCode, err)
	}
	return out.Instance.ID
}

// uiBackend starts a real backend process (svctestserver) on a free loopback port and waits
// until it accepts connections.
func uiBackend(t *testing.T, e *env, slug string) (*svcProc, string) {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	p := svcStartProc(t, e.With("PORT="+port, "OO_SLUG="+slug), svcTestServer(t))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return p, "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend on %s did not listen; output: %s %s", addr, p.Out.String(), p.Err.String())
		}
	}
}

// TestDashboardInBrowser: sign in to /ui/ as a service's owner, see its instances appear
// Healthy with live request figures, kill one instance's process and watch it turn
// Unreachable with the reason, all without a console error; the page fits a phone's width,
// shows nothing of another account's service, and signing out revokes the token. With
// OO_UPDATE_SCREENSHOT=1 it rewrites docs/dashboard.png.
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	chrome := uiChromium(t)
	e := newEnv(t)
	srv := e.StartServer("--probe-interval", "500ms")
	const slug, password = "shop", "shop-password-1"
	for _, s := range []string{slug, "other"} {
		if code := cliHTTP(t, http.MethodPost, srv.URL+"/user-svc/register", "",
			map[string]string{"slug": s, "name": s, "password": password}); code != http.StatusOK {
			t.Fatalf("registering %s: HTTP %d", s, code)
		}
	}
	tok := cliLoginToken(t, srv.URL, slug, password)
	doomed, doomedURL := uiBackend(t, e, slug)
	_, keptURL := uiBackend(t, e, slug)
	doomedID := uiRegisterInstance(t, srv.URL, tok, doomedURL)
	keptID := uiRegisterInstance(t, srv.URL, tok, keptURL)
	otherID := uiRegisterInstance(t, srv.URL, cliLoginToken(t, srv.URL, "other", password), "http://"+freeAddr(t))

	ctx := uiBrowser(t, e, chrome)
	console := watchConsole(ctx)
	row := func(id, status string) string {
		return `#instances tr[data-id="` + id + `"][data-status="` + status + `"]`
	}

	// /ui redirects to /ui/, which asks to sign in.
	uiDo(t, ctx, 30*time.Second, "sign in",
		chromedp.Navigate(srv.URL+"/ui"),
		chromedp.WaitVisible(chromedp.CSS(`#login input[name=slug]`)),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=slug]`), slug),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#board`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#login`)),
	)
	if loc := uiEval[string](t, ctx, `location.pathname`); loc != "/ui/" {
		t.Errorf("the page is at %q, not /ui/", loc)
	}
	uiDo(t, ctx, 30*time.Second, "both instances Healthy",
		chromedp.WaitVisible(chromedp.CSS(row(doomedID, "Healthy"))),
		chromedp.WaitVisible(chromedp.CSS(row(keptID, "Healthy"))),
	)
	// Traffic through the proxy shows in the live figures of the service's row.
	for i := 0; i < 40; i++ {
		if rsp, err := http.Get(srv.URL + "/" + slug + "/hello"); err == nil {
			rsp.Body.Close()
		}
	}
	uiDo(t, ctx, 30*time.Second, "live request figures",
		chromedp.WaitVisible(chromedp.CSS(`#live.on`)),
		chromedp.Poll[chromedp.Void](`(() => { const c = document.querySelector('#slugs tr[data-slug="`+slug+`"] td[data-label="Requests"]');
			return c && Number(c.textContent) >= 40; })()`, chromedp.WithPollingInterval(100*time.Millisecond)),
	)
	if who := uiEval[string](t, ctx, `document.getElementById('who').textContent`); who != slug {
		t.Errorf("signed in as %q, want %q", who, slug)
	}

	// Kill -9 one backend: the prober finds it gone and the row says so, with the reason.
	if err := syscall.Kill(-doomed.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	uiDo(t, ctx, 30*time.Second, "killed instance Unreachable",
		chromedp.WaitVisible(chromedp.CSS(row(doomedID, "Unreachable"))),
	)
	why := uiEval[string](t, ctx, `document.querySelector('#instances tr[data-id="`+doomedID+`"] td.why').textContent`)
	if why == "" {
		t.Error("the Unreachable instance shows no reason")
	}
	if n := uiEval[int](t, ctx, `document.querySelectorAll('#instances tr[data-id="`+keptID+`"][data-status="Healthy"]').length`); n != 1 {
		t.Error("the other instance is no longer shown Healthy")
	}
	if n := uiEval[int](t, ctx, `document.querySelectorAll('[data-id="`+otherID+`"], [data-slug="other"]').length`); n != 0 {
		t.Error("another account's service is shown to a non-admin")
	}
	if os.Getenv("OO_UPDATE_SCREENSHOT") != "" {
		uiScreenshot(t, ctx, filepath.Join("..", "docs", "dashboard.png"))
	}

	// A phone: nothing wider than the screen.
	uiDo(t, ctx, 10*time.Second, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	if w := uiEval[string](t, ctx, `document.documentElement.scrollWidth + ' ' + window.innerWidth`); func() bool {
		f := strings.Fields(w)
		a, _ := strconv.Atoi(f[0])
		b, _ := strconv.Atoi(f[1])
		return a > b
	}() {
		t.Errorf("on a 390 px wide screen the page is wider than the screen (scroll width, viewport: %s)", w)
	}
	console.check(t, "while watching")

	// Sign out: the form is back, the tab holds no token, and the token no longer works.
	held := uiEval[string](t, ctx, `JSON.parse(sessionStorage.getItem('oo-dashboard')).token`)
	uiDo(t, ctx, 10*time.Second, "sign out",
		chromedp.Click(chromedp.CSS(`#signout`)),
		chromedp.WaitVisible(chromedp.CSS(`#login`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#board`)),
	)
	if left := uiEval[int](t, ctx, `sessionStorage.length`); left != 0 {
		t.Errorf("sessionStorage keeps %d items after sign-out", left)
	}
	revoked := false
	for deadline := time.Now().Add(10 * time.Second); !revoked && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		revoked = cliHTTP(t, http.MethodPost, srv.URL+"/user-svc/user/by-token", held, nil) == http.StatusUnauthorized
	}
	if !revoked {
		t.Error("the token is still valid after signing out")
	}
	console.check(t, "after signing out")
}

// uiScreenshot writes a PNG of the whole page to path.
func uiScreenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(png))
}
