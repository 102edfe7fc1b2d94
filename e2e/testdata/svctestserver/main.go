// Command svctestserver is the child that e2e tests launch under `oo service run`. It listens on
// $PORT and answers GET /$OO_SLUG/hello with who it is (pid, port, replica), so a test can tell
// instances apart through the proxy. Flags make it misbehave on purpose.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	exitAfter := flag.Duration("exit-after", 0, "exit on its own after this long")
	exitWhen := flag.String("exit-when", "", "exit on its own once this file exists (a test creates it when it has seen what it needed)")
	code := flag.Int("code", 0, "exit code for -exit-after and -exit-when")
	signalCode := flag.Int("signal-code", 0, "exit code after SIGINT/SIGTERM")
	neverListen := flag.Bool("never-listen", false, "never open the port")
	registerSelf := flag.Bool("register-self", false, "also register SELF_URL, as programs written for 1Backend do")
	tokenEnv := flag.String("token-env", "OO_TOKEN", "the variable holding the token for -register-self")
	flag.Parse()

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigc
		fmt.Printf("svctestserver: got %v\n", s)
		os.Exit(*signalCode)
	}()
	if *exitAfter > 0 {
		go func() {
			time.Sleep(*exitAfter)
			fmt.Printf("svctestserver: exiting with %d\n", *code)
			os.Exit(*code)
		}()
	}
	if *exitWhen != "" {
		go func() {
			for {
				if _, err := os.Stat(*exitWhen); err == nil {
					fmt.Printf("svctestserver: %s exists, exiting with %d\n", *exitWhen, *code)
					os.Exit(*code)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	if *neverListen {
		fmt.Println("svctestserver: not listening on purpose")
		select {}
	}

	slug, port := os.Getenv("OO_SLUG"), os.Getenv("PORT")
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "svctestserver:", err)
		os.Exit(2)
	}
	if *registerSelf {
		if err := register(os.Getenv(*tokenEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "svctestserver: self-registration:", err)
			os.Exit(3)
		}
		fmt.Println("svctestserver: registered itself")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+slug+"/hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"hello": "world", "pid": os.Getpid(), "port": port, "replica": os.Getenv("OO_REPLICA"),
		})
	})
	// Whether the token oo hands over (the file it keeps current, else OO_TOKEN) works now.
	mux.HandleFunc("GET /"+slug+"/whoami", func(w http.ResponseWriter, r *http.Request) {
		tok := os.Getenv("OO_TOKEN")
		if f := os.Getenv("OO_TOKEN_FILE"); f != "" {
			raw, err := os.ReadFile(f)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			tok = strings.TrimSpace(string(raw))
		}
		req, _ := http.NewRequest(http.MethodPost, os.Getenv("OO_URL")+"/user-svc/user/by-token", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		rsp.Body.Close()
		w.WriteHeader(rsp.StatusCode)
	})
	fmt.Printf("svctestserver: listening on %s\n", ln.Addr())
	_ = http.Serve(ln, mux)
}

// register does what the seed program does with the SDK: PUT its own URL into the registry.
func register(token string) error {
	body, _ := json.Marshal(map[string]string{"url": os.Getenv("SELF_URL")})
	req, err := http.NewRequest(http.MethodPut, os.Getenv("OB_URL")+"/registry-svc/instance", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Timeout: 10 * time.Second}
	rsp, err := c.Do(req)
	if err != nil {
		return err
	}
	rsp.Body.Close()
	if rsp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", rsp.StatusCode)
	}
	return nil
}
