#!/usr/bin/env python3
"""The first oo service in Python, standard library only, plain HTTP.

It gets a token for its slug (OO_TOKEN_FILE or OO_TOKEN, or the password it stored on an
earlier run, or a new account with a random password it stores 0600 under
$XDG_DATA_HOME/oo/services/), registers its URL in the registry with a heartbeat TTL,
heartbeats, and deregisters on SIGINT/SIGTERM. It runs for longer than a token lives: a call
answered 401 is retried with a new token (a new login with the stored password, or the file
`oo service run` keeps current), and an instance the server forgot is registered again.

    GET /<slug>/hello   ->  {"hello": "world"}
    GET /<slug>/whoami  ->  {"caller": "<slug>", "userId": "usr_...", "roles": [...]} for a request
                            with a valid oo token, {"caller": null} without one

The caller comes from the X-Oo-Caller-* headers the oo proxy adds after verifying the bearer
token (signature, expiry, revocation); it removes any copies a client sent. So the service needs
no JWT library, as long as it is reachable only through oo (it listens on loopback).

Env: OO_URL (or OB_URL, OPENORCH_URL), SELF_URL (or PORT), OO_TOKEN_FILE or OO_TOKEN, OO_SLUG
(default py-svc), OO_HEARTBEAT_SECONDS (default 5).
"""
import json
import os
import secrets
import signal
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

SERVER = (os.environ.get("OO_URL") or os.environ.get("OB_URL")
          or os.environ.get("OPENORCH_URL") or "http://127.0.0.1:58231").rstrip("/")
SLUG = os.environ.get("OO_SLUG") or "py-svc"
HEARTBEAT_SECONDS = float(os.environ.get("OO_HEARTBEAT_SECONDS") or 5)


def api(method, path, body=None, token=None):
    """One JSON call to the oo server; raises urllib.error.HTTPError on non-2xx."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(SERVER + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as rsp:
        raw = rsp.read()
        return json.loads(raw) if raw.strip() else {}


def credentials_file():
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "oo", "services", SLUG + ".json")


def stored_password():
    try:
        with open(credentials_file()) as f:
            return json.load(f).get("password", "")
    except FileNotFoundError:
        return ""


def store_password(password):
    path = credentials_file()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    os.chmod(os.path.dirname(path), 0o700)
    # O_CREAT with 0600 so the password is never readable by others, not even for a moment.
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"slug": SLUG, "password": password}, f)
    os.replace(path + ".tmp", path)


class Credentials:
    """The service's token, kept usable for as long as the service runs."""

    def __init__(self):
        self.lock = threading.Lock()
        self.file = os.environ.get("OO_TOKEN_FILE")  # `oo service run` keeps it current
        self.password = ""
        self.token = os.environ.get("OO_TOKEN", "")
        if not self.file and not self.token:
            self.password, self.token = service_account()

    def current(self):
        if self.file:
            with open(self.file) as f:
                return f.read().strip()
        with self.lock:
            return self.token

    def renew(self, refused):
        """After a 401: log in again with the stored password (the token file needs nothing)."""
        if not self.password:
            return
        with self.lock:
            if self.token == refused:  # not renewed meanwhile by another thread
                self.token = login(self.password)

    def call(self, method, path, body=None):
        """api() with the current token, retried once with a new one after a 401."""
        token = self.current()
        try:
            return api(method, path, body, token)
        except urllib.error.HTTPError as e:
            if e.code != 401:
                raise
        self.renew(token)
        return api(method, path, body, self.current())


def login(password):
    return api("POST", "/user-svc/login", {"slug": SLUG, "password": password})["token"]["token"]


def service_account():
    """(password, token) of the service's own account, created on first use."""
    password = stored_password()
    created = False
    if password:
        try:
            return password, login(password)
        except urllib.error.HTTPError as e:
            if e.code == 401:
                sys.exit(f"{SLUG} exists but rejects the password in {credentials_file()}")
    else:
        password = secrets.token_urlsafe(24)
        store_password(password)
        created = True
    name = SLUG.replace("-", " ").title()
    try:
        return password, api("POST", "/user-svc/register", {"slug": SLUG, "name": name, "password": password})["token"]["token"]
    except urllib.error.HTTPError as e:
        if created:
            os.remove(credentials_file())  # not this account's password: do not keep it
        if e.code == 409:
            # Typically `oo service run --slug py-svc` made the account and keeps its password
            # in the OS keyring, which this script cannot read.
            sys.exit(f"cannot register {SLUG}: the account already exists and its password is not in "
                     f"{credentials_file()} (an earlier `oo service run --slug {SLUG}` keeps it in the OS keyring): "
                     f"run this under `oo service run --slug {SLUG}`, or use another slug with OO_SLUG=my-py-svc")
        sys.exit(f"cannot register {SLUG}: HTTP {e.code} {e.read().decode(errors='replace')}")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def caller(self):
        """Who called, as the oo proxy verified it; None for a request without a valid token."""
        slug = self.headers.get("X-Oo-Caller-Slug")
        if not slug:
            return None
        roles = [r for r in self.headers.get("X-Oo-Caller-Roles", "").split(",") if r]
        return {"caller": slug, "userId": self.headers.get("X-Oo-Caller-User-Id"), "roles": roles}

    def do_GET(self):
        path = urlparse(self.path).path
        if path == f"/{SLUG}/hello":
            body, status = json.dumps({"hello": "world"}).encode(), 200
        elif path == f"/{SLUG}/whoami":
            body, status = json.dumps(self.caller() or {"caller": None}).encode(), 200
        else:
            body, status = json.dumps({"error": "not found"}).encode(), 404
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    self_url = os.environ.get("SELF_URL") or f"http://127.0.0.1:{os.environ.get('PORT', '0')}"
    u = urlparse(self_url)
    # Listen before registering, so the server's first health check finds us.
    httpd = ThreadingHTTPServer(("127.0.0.1" if u.hostname in ("localhost", None) else u.hostname, u.port or 0), Handler)
    self_url = f"{u.scheme}://{u.hostname}:{httpd.server_address[1]}"

    creds = Credentials()
    ttl = f"{round(3 * HEARTBEAT_SECONDS, 3)}s"

    def register():
        rsp = creds.call("PUT", "/registry-svc/instance", {"url": self_url, "heartbeatTtl": ttl})
        found = (rsp.get("instance") or {}).get("id")
        if not found:  # servers that answer {} only
            listed = creds.call("GET", f"/registry-svc/instances?slug={SLUG}")["instances"]
            found = next(i["id"] for i in listed if i["url"].rstrip("/") == self_url)
        return found

    instance_id = register()
    print(f"{SLUG} listening on {self_url}, registered as {instance_id}", flush=True)

    stopping = threading.Event()

    def heartbeat():
        nonlocal instance_id
        while not stopping.wait(HEARTBEAT_SECONDS):
            try:
                try:
                    creds.call("PUT", f"/registry-svc/instance/{instance_id}/heartbeat", {"ttl": ttl})
                except urllib.error.HTTPError as e:
                    if e.code != 404:
                        raise
                    # The server forgot us (its TTL ran out while we were suspended, or it was reset).
                    instance_id = register()
            except (urllib.error.URLError, OSError) as e:
                print(f"heartbeat failed: {e}", file=sys.stderr, flush=True)

    def stop(signum, frame):
        stopping.set()
        # shutdown() waits for serve_forever, which runs in this thread: do it from another.
        threading.Thread(target=httpd.shutdown).start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=heartbeat, daemon=True).start()
    httpd.serve_forever()
    try:
        creds.call("DELETE", f"/registry-svc/instance/{instance_id}")
        print(f"deregistered {instance_id}", flush=True)
    except urllib.error.HTTPError as e:
        if e.code != 404:
            print(f"deregistering failed: HTTP {e.code}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
