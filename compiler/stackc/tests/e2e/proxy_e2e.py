#!/usr/bin/env python3
"""End-to-end test of a generated reverse-proxy configuration on a real server.

Run by compiler/stackc/tests/nginx_e2e.rs and caddy_e2e.rs as

    unshare -m -n -- python3 proxy_e2e.py PLAN.json

inside a private mount and network namespace (the script refuses to run outside one): it
brings up the loopback interface, bind-mounts a private hosts file over /etc/hosts (every
site host -> 127.0.0.1, every upstream instance -> its own 127.0.0.N), starts one small HTTP
server per upstream instance, starts the proxy with the plan's command, and proves with real
HTTP requests what the stack `e2e/site.stack.kdl` asks for. Every expectation below is about
that stack and independent of the server kind; a kind that cannot express one lists it in
the plan's `skip` with the reason. Where a kind behaves differently and legitimately (Caddy:
see docs/targets/caddy.md), the check says so next to the expectation. Whatever happens, the proxy and the upstreams are stopped
in a `finally`, and the script exits non-zero with one line per failed expectation.

Python standard library only.

PLAN.json (written by the Rust test):
  kind          "nginx" or "caddy"
  command       argv that runs the proxy in the foreground
  env           (optional) environment variables added to the proxy's environment
  http_port     port of the plain-HTTP listeners (the config's 80)
  https_port    port of the HTTPS listeners (the config's 443)
  plain_port    port of the plain-HTTP site plain.e2e.test (its `listen`, used as written)
  ca_file       certificate that the HTTPS listeners' certificates chain to (may be written
                by the proxy when it starts: the script waits for it)
  hosts         the sites' host names (resolve to 127.0.0.1)
  upstreams     [{service, instance, addr, port}]: one server each
  static_root   directory that the stack's /srv/e2e stands for
  acme_root     directory that the ACME webroot stands for
  access_log    the proxy's access log file
  error_log     the proxy's error log file (printed when something fails)
  private       (optional) {host, user, password}: the site of e2e/site-auth.kdl, behind basic
                auth; without it the checks on that site do not apply (they are not skips)
  skip          {check id: reason}
  outer_namespaces  {"mnt": inode, "net": inode} of the caller, which this script must not be in
"""

import base64
import gzip
import hashlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PLAN = {}
DNS = {}  # name -> [IPv4 address]: what the test's DNS server (Docker's 127.0.0.11) answers
DNS_LOCK = threading.Lock()
RETIRED = set()  # upstream instances that are gone, as a recreated container's old one
HITS = []  # (service, instance, host header, path) of every request an upstream answered
HITS_LOCK = threading.Lock()

# The response headers the stack asks for, per site (preset, proxy headers, site headers, HSTS).
STRICT = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
BASIC = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
COMMON = {
    "X-Stack": "e2e",
    "Content-Security-Policy": "default-src 'self'",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
}
APP_HEADERS = {**STRICT, **COMMON, "X-Site": "app"}
ADMIN_HEADERS = {**STRICT, **COMMON}
PRIVATE_HEADERS = {**STRICT, **COMMON}  # the basic-auth site (caddy_e2e.rs: site-auth.kdl)
OPS_HEADERS = {**BASIC, **COMMON}

APP = "app.e2e.test"
ADMIN = "admin.e2e.test"
OPS = "ops.e2e.test"
ACME_TOKEN = "e2e-token-5f1c"
ACME_BODY = b"e2e-token-5f1c.key-authorization\n"
STATIC_TXT = b"hello from the static route\n"
STATIC_INDEX = b"<!doctype html><title>static index</title>\n"
SPA_INDEX = b"<!doctype html><title>spa shell</title>\n"
SPA_JS = b"console.log('spa');\n"


class Failure(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise Failure(message)


# ---------------------------------------------------------------------------------------
# Upstreams


class Upstream(BaseHTTPRequestHandler):
    """Answers with what it saw: its service and instance, the request line and headers."""

    protocol_version = "HTTP/1.1"
    service = ""
    instance = ""

    def log_message(self, *args):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self):
        if self.instance in RETIRED:
            # A removed container: the connection dies without an answer.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if ptime_answer(self):
            return
        body = self.read_body()
        with HITS_LOCK:
            HITS.append((self.service, self.instance, self.headers.get("Host", ""), self.path))
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        if "/sleep" in self.path:
            time.sleep(3)
        if self.service == "web" and self.path.startswith("/download/"):
            # The upstream hands the request to an `internal` location, as X-Accel-Redirect does.
            self.send_response(200)
            self.send_header("X-Accel-Redirect", "/files/" + self.path[len("/download/"):])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        seen = {
            "service": self.service,
            "instance": self.instance,
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body_len": len(body),
            # Long enough for the proxy to compress (nginx: gzip_min_length 256).
            "pad": "stackc " * 64,
        }
        payload = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        # Routes with `cache=` must replace this, not add to it.
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Upstream", self.instance)
        self.end_headers()
        self.wfile.write(payload)

    def websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("X-Seen-Upgrade", self.headers.get("Upgrade", ""))
        self.send_header("X-Seen-Connection", self.headers.get("Connection", ""))
        self.send_header("X-Seen-Path", self.path)
        self.end_headers()
        self.wfile.flush()
        text = read_frame(self.rfile.read)
        send_frame(self.wfile.write, f"{self.instance} got {text}".encode(), mask=False)
        self.wfile.flush()
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = answer


def read_frame(read):
    """One WebSocket text frame (payload < 126 bytes), unmasked."""
    b0, b1 = read(2)
    expect(b0 == 0x81, f"expected a final text frame, got opcode byte {b0:#x}")
    n = b1 & 0x7F
    mask = read(4) if b1 & 0x80 else b"\0\0\0\0"
    data = read(n)
    return bytes(c ^ mask[i % 4] for i, c in enumerate(data)).decode()


def send_frame(write, data, mask):
    if mask:
        key = os.urandom(4)
        write(bytes([0x81, 0x80 | len(data)]) + key + bytes(c ^ key[i % 4] for i, c in enumerate(data)))
    else:
        write(bytes([0x81, len(data)]) + data)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The proxy hangs up on purpose (timeouts, rejected bodies): not the test's failure.
        pass


def start_upstream(u):
    handler = type("Upstream_" + u["instance"], (Upstream,), {"service": u["service"], "instance": u["instance"]})
    srv = QuietServer((u["addr"], u["port"]), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def start_upstreams():
    return [start_upstream(u) for u in PLAN["upstreams"]]


def start_dns():
    """Docker's embedded DNS server (127.0.0.11:53, UDP), answering A queries from `DNS`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.11", 53))

    def answer(query):
        qid, flags = query[:2], int.from_bytes(query[2:4], "big")
        labels, i = [], 12
        while query[i]:
            labels.append(query[i + 1 : i + 1 + query[i]].decode().lower())
            i += 1 + query[i]
        question = query[12 : i + 5]
        qtype = int.from_bytes(query[i + 1 : i + 3], "big")
        with DNS_LOCK:
            addrs = DNS.get(".".join(labels))
        records = b""
        if addrs and qtype == 1:
            for a in addrs:
                records += b"\xc0\x0c" + (1).to_bytes(2, "big") + (1).to_bytes(2, "big") + (1).to_bytes(4, "big")
                records += (4).to_bytes(2, "big") + socket.inet_aton(a)
        rcode = 0 if addrs else 3  # NXDOMAIN for a name it does not know
        count = len(addrs) if addrs and qtype == 1 else 0
        head = qid + (0x8180 | (flags & 0x0100) | rcode).to_bytes(2, "big")
        head += (1).to_bytes(2, "big") + count.to_bytes(2, "big") + b"\x00\x00\x00\x00"
        return head + question + records

    def serve():
        while True:
            query, peer = sock.recvfrom(512)
            try:
                sock.sendto(answer(query), peer)
            except (IndexError, UnicodeDecodeError):
                pass

    threading.Thread(target=serve, daemon=True).start()
    return sock


def hits(service=None, host=None):
    with HITS_LOCK:
        return [h for h in HITS if (service is None or h[0] == service) and (host is None or h[2] == host)]


# ---------------------------------------------------------------------------------------
# Client


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # email.message.Message: case-insensitive, get_all
        self.body = body

    def header(self, name):
        return self.headers.get(name)

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise Failure(f"expected an upstream's JSON answer, got {self.status} {self.body[:200]!r}")


def tls_context(alpn=None):
    ctx = ssl.create_default_context(cafile=PLAN["ca_file"])
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def request(host, path, scheme="https", method="GET", headers=None, body=None, chunked=False):
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, PLAN["https_port"], context=tls_context(), timeout=10)
    else:
        conn = http.client.HTTPConnection(host, PLAN["http_port"], timeout=10)
    # The Host header a client sends to the real ports 80 and 443: without a port. (nginx's
    # `$host` drops the port anyway; Caddy passes the client's Host to the upstream as it is.)
    headers = {"Host": host, **(headers or {})}
    try:
        if chunked:
            # No Content-Length: the proxy learns the size only while it reads the body.
            conn.request(method, path, body=iter([body[i : i + 16384] for i in range(0, len(body), 16384)]),
                         headers=headers, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return Resp(r.status, r.headers, r.read())
    finally:
        conn.close()


def status_of(r, want, what):
    expect(r.status == want, f"{what}: expected status {want}, got {r.status} (body {r.body[:160]!r})")


def has_headers(r, want, what, absent=()):
    for name, value in want.items():
        got = r.headers.get_all(name) or []
        expect(got == [value], f"{what} ({r.status}): header {name}: expected [{value!r}], got {got!r}")
    for name in absent:
        expect(r.headers.get(name) is None, f"{what}: header {name} should be absent, got {r.headers.get(name)!r}")


def upstream_saw(r, service, path, host, what):
    status_of(r, 200, what)
    seen = r.json()
    expect(seen["service"] == service, f"{what}: reached {seen['instance']}, expected service {service}")
    expect(seen["path"] == path, f"{what}: upstream saw path {seen['path']!r}, expected {path!r}")
    expect(seen["headers"].get("host") == host, f"{what}: upstream saw Host {seen['headers'].get('host')!r}")
    return seen


# ---------------------------------------------------------------------------------------
# Expectations: (id, what it proves, function). Shared by every server kind.


def check_http_redirect():
    for host in [APP, "www." + APP, "old.e2e.test", ADMIN]:
        r = request(host, "/some/path?q=1&r=2", scheme="http")
        # Caddy's automatic redirect is permanent too, but 308 (keeps the method).
        status_of(r, 308 if PLAN["kind"] == "caddy" else 301, f"http://{host}/some/path")
        want = f"https://{host}/some/path?q=1&r=2"
        expect(r.header("Location") == want, f"http://{host}: Location {r.header('Location')!r}, expected {want!r}")


def check_acme_challenge():
    # Also on the allow-from site: the CA's validation servers are not in its ranges.
    for host in [APP, ADMIN]:
        r = request(host, f"/.well-known/acme-challenge/{ACME_TOKEN}", scheme="http")
        status_of(r, 200, f"ACME challenge on http://{host}")
        expect(r.body == ACME_BODY, f"ACME challenge on {host}: body {r.body!r}")
    r = request(APP, "/.well-known/acme-challenge/missing", scheme="http")
    status_of(r, 404, "missing ACME token (no redirect, no proxying)")


def check_tls_and_http2():
    for host in [APP, "www." + APP, "old.e2e.test", ADMIN, OPS]:
        with socket.create_connection((host, PLAN["https_port"]), timeout=10) as raw:
            with tls_context(["h2", "http/1.1"]).wrap_socket(raw, server_hostname=host) as s:
                expect(s.version() in ("TLSv1.2", "TLSv1.3"), f"{host}: TLS version {s.version()}")
                expect(s.selected_alpn_protocol() == "h2", f"{host}: ALPN {s.selected_alpn_protocol()!r}, not h2")


def check_ipv6():
    with socket.create_connection(("::1", PLAN["http_port"]), timeout=10) as s:
        s.sendall(f"GET /v6 HTTP/1.1\r\nHost: {APP}\r\nConnection: close\r\n\r\n".encode())
        answer = recv_all(s)
    want = b"HTTP/1.1 308" if PLAN["kind"] == "caddy" else b"HTTP/1.1 301"
    expect(answer.startswith(want), f"http://[::1]: {answer[:80]!r}")
    with socket.create_connection(("::1", PLAN["https_port"]), timeout=10) as raw:
        with tls_context().wrap_socket(raw, server_hostname=APP) as s:
            s.sendall(f"GET /v6 HTTP/1.1\r\nHost: {APP}\r\nConnection: close\r\n\r\n".encode())
            answer = recv_all(s)
    head, _, body = answer.partition(b"\r\n\r\n")
    expect(head.startswith(b"HTTP/1.1 200"), f"https://[::1]: {head[:80]!r}")
    seen = json.loads(body)
    expect(seen["service"] == "web" and seen["path"] == "/v6", f"https://[::1] reached {seen['instance']} {seen['path']}")
    expect(seen["headers"].get("x-real-ip") == "::1", f"X-Real-IP over IPv6: {seen['headers'].get('x-real-ip')!r}")


def recv_all(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def plain_http_answer(port, host):
    """The raw answer to `GET /` for `host` on a plain-HTTP port (b"" when the connection is
    closed without one, as for a host no site serves there)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        try:
            return recv_all(s)
        except ConnectionResetError:
            return b""


def check_redirect_from():
    r = request("old.e2e.test", "/a/b?c=1")
    status_of(r, 301, "https://old.e2e.test")
    expect(r.header("Location") == f"https://{APP}/a/b?c=1", f"redirect-from: Location {r.header('Location')!r}")
    has_headers(r, APP_HEADERS, "redirect-from response")


def check_prefix_route_and_forwarding():
    r = request(APP, "/hello/world?x=1")
    seen = upstream_saw(r, "web", "/hello/world?x=1", APP, "prefix route /")
    h = seen["headers"]
    expect(h.get("x-forwarded-proto") == "https", f"X-Forwarded-Proto {h.get('x-forwarded-proto')!r}")
    expect(h.get("x-real-ip") == "127.0.0.1", f"X-Real-IP {h.get('x-real-ip')!r}")
    expect(h.get("x-forwarded-for") == "127.0.0.1", f"X-Forwarded-For {h.get('x-forwarded-for')!r}")
    has_headers(r, APP_HEADERS, "proxied 200")
    expect(r.header("X-Upstream") == seen["instance"], "the upstream's own headers pass")
    # nginx keeps a client's X-Forwarded-For and appends the client's address; Caddy trusts
    # no client's X-Forwarded-For (no `trusted_proxies`) and sends the client's address alone.
    r = request("www." + APP, "/", headers={"X-Forwarded-For": "203.0.113.7"})
    seen = upstream_saw(r, "web", "/", "www." + APP, "second host of the site")
    got = seen["headers"].get("x-forwarded-for")
    want = "127.0.0.1" if PLAN["kind"] == "caddy" else "203.0.113.7, 127.0.0.1"
    expect(got == want, f"X-Forwarded-For {got!r}, expected {want!r}")


def check_replicas():
    # nginx re-resolving through a variable starts at a random address of the answer for each
    # request (as Docker's DNS also shuffles them): enough requests that missing one is
    # practically impossible (2^-23).
    instances = {request(APP, f"/r{i}").json()["instance"] for i in range(24)}
    want = {u["instance"] for u in PLAN["upstreams"] if u["service"] == "web"}
    expect(len(want) == 2, f"the plan should have two web replicas, has {want}")
    expect(instances == want, f"requests reached {sorted(instances)}, expected every replica {sorted(want)}")


def check_strip_prefix():
    upstream_saw(request(APP, "/api/users?id=3"), "api", "/users?id=3", APP, "/api/ with strip-prefix")
    upstream_saw(request(APP, "/api/"), "api", "/", APP, "/api/ itself")
    # A prefix without a trailing slash.
    upstream_saw(request(APP, "/v1/users?id=4"), "api", "/users?id=4", APP, "/v1 with strip-prefix")
    upstream_saw(request(APP, "/v1"), "api", "/", APP, "/v1 itself")


def check_timeout():
    upstream_saw(request(APP, "/slow/quick"), "api", "/slow/quick", APP, "timeout=1s, quick answer")
    started = time.time()
    r = request(APP, "/slow/sleep")
    status_of(r, 504, "timeout=1s, upstream answers after 3 s")
    expect(time.time() - started < 2.9, f"the 504 came after {time.time() - started:.1f} s, not before the upstream answered")
    has_headers(r, APP_HEADERS, "504")


def check_exact_route():
    upstream_saw(request(APP, "/health?probe=unlogged-7"), "api", "/health?probe=unlogged-7", APP, "exact /health")
    upstream_saw(request(APP, "/health/extra"), "web", "/health/extra", APP, "/health/extra is not exact /health")


def check_regex_route():
    r = request(APP, "/ASSETS/css/Site.CSS")
    upstream_saw(r, "api", "/ASSETS/css/Site.CSS", APP, "case-insensitive regex route")
    # The route's Cache-Control replaces the upstream's, and the site's headers survive the
    # location's own add_header.
    has_headers(r, {**APP_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"}, "regex route with cache=")
    upstream_saw(request(APP, "/assets/app.js"), "web", "/assets/app.js", APP, "regex does not match .js")


def check_websocket():
    with socket.create_connection((APP, PLAN["https_port"]), timeout=10) as raw:
        with tls_context(["http/1.1"]).wrap_socket(raw, server_hostname=APP) as s:
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall(
                (
                    f"GET /ws/chat?room=1 HTTP/1.1\r\nHost: {APP}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            f = s.makefile("rb")
            status = f.readline().decode().strip()
            headers = {}
            while True:
                line = f.readline().decode()
                if line in ("\r\n", "\n", ""):
                    break
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            expect(status.startswith("HTTP/1.1 101"), f"websocket: status line {status!r}, headers {headers}")
            expect(headers.get("x-seen-upgrade") == "websocket", f"upstream saw Upgrade {headers.get('x-seen-upgrade')!r}")
            expect(
                headers.get("x-seen-connection", "").lower() == "upgrade",
                f"upstream saw Connection {headers.get('x-seen-connection')!r}",
            )
            expect(headers.get("x-seen-path") == "/ws/chat?room=1", f"upstream saw path {headers.get('x-seen-path')!r}")
            want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
            expect(headers.get("sec-websocket-accept") == want.decode(), "Sec-WebSocket-Accept passes")
            send_frame(s.sendall, b"ping", mask=True)
            text = read_frame(f.read)
            expect(text == "ws got ping", f"websocket echo through the proxy: {text!r}")


def check_internal():
    before = len(hits("api"))
    r = request(APP, "/files/secret.txt")
    status_of(r, 404, "internal route from outside")
    has_headers(r, APP_HEADERS, "404 of an internal route")
    expect(len(hits("api")) == before, "an internal route must not reach its upstream from outside")


def check_internal_handoff():
    # The upstream may hand a request to an internal route (X-Accel-Redirect).
    upstream_saw(request(APP, "/download/report.pdf"), "api", "/files/report.pdf", APP, "X-Accel-Redirect to internal")


def check_body_limit():
    r = request(APP, "/upload/x", method="POST", body=b"a" * 512)
    seen = upstream_saw(r, "api", "/upload/x", APP, "upload within the route's limit")
    expect(seen["body_len"] == 512, f"upstream got {seen['body_len']} bytes of 512")
    r = request(APP, "/upload/x", method="POST", body=b"a" * 2048)
    status_of(r, 413, "route body-limit 1Ki")
    has_headers(r, APP_HEADERS, "413")
    upstream_saw(request(APP, "/api/x", method="POST", body=b"b" * 32768), "api", "/x", APP, "32 KiB under 64Ki")
    status_of(request(APP, "/api/x", method="POST", body=b"b" * 100_000), 413, "proxy body-limit 64Ki")
    r = request(APP, "/api/x", method="POST", body=b"b" * 100_000, chunked=True)
    status_of(r, 413, "proxy body-limit 64Ki, chunked body")
    has_headers(r, APP_HEADERS, "413 of a chunked body")
    # A body refused by its Content-Length is not the upstream's failure: api stays in rotation
    # (max-fails=3; the 504 above is one failure, and Caddy counts a chunked body it cuts off
    # as another, docs/targets/caddy.md).
    upstream_saw(request(APP, "/api/after-413"), "api", "/after-413", APP, "api after the refused bodies")


def check_rate_limit():
    statuses = [request(APP, f"/limited/{i}").status for i in range(6)]
    # rate 1r/m, burst 2, nodelay: one request plus the burst pass at once, then rejections.
    expect(statuses == [200, 200, 200, 429, 429, 429], f"rate limit: statuses {statuses}")
    r = request(APP, "/limited/again")
    status_of(r, 429, "rate limit still rejecting")
    has_headers(r, APP_HEADERS, "429")


def check_allow_from_denies():
    for path, what in [("/", "proxied route"), ("/gone", "respond= route"), ("/elsewhere/x", "redirect= route")]:
        r = request(ADMIN, path)
        status_of(r, 403, f"allow-from 10.0.0.0/8, client 127.0.0.1, {what}")
        has_headers(r, ADMIN_HEADERS, f"403 of {what}", absent=["X-Site"])
    expect(not hits("admin", ADMIN), f"denied requests reached the upstream: {hits('admin', ADMIN)}")


def check_allow_from_allows():
    r = request(OPS, "/status")
    upstream_saw(r, "admin", "/status", OPS, "allow-from 127.0.0.0/8")
    has_headers(r, OPS_HEADERS, "basic preset", absent=["Permissions-Policy", "Cross-Origin-Opener-Policy", "X-Site"])


def check_respond_and_redirect_routes():
    r = request(APP, "/metrics")
    status_of(r, 404, "respond=404")
    has_headers(r, APP_HEADERS, "respond=404")
    r = request(APP, "/old/page")
    status_of(r, 308, "redirect= status=308")
    expect(r.header("Location") == f"https://{APP}/new/", f"redirect= Location {r.header('Location')!r}")
    has_headers(r, APP_HEADERS, "308")


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def check_basic_auth():
    auth = PLAN["private"]
    host = auth["host"]

    before = len(hits(host=host))
    for headers, what in [({}, "no credentials"), (basic(auth["user"], "wrong"), "a wrong password"),
                          (basic("nobody", auth["password"]), "an unknown user")]:
        r = request(host, "/private", headers=headers)
        status_of(r, 401, f"basic auth, {what}")
        challenge = r.header("WWW-Authenticate") or ""
        expect(challenge.startswith("Basic "), f"basic auth, {what}: WWW-Authenticate {challenge!r}")
        has_headers(r, PRIVATE_HEADERS, f"401 with {what}")
    # Every route of the site is behind it, respond= routes too.
    status_of(request(host, "/gone"), 401, "basic auth before a respond= route")
    expect(len(hits(host=host)) == before, f"unauthenticated requests reached an upstream: {hits(host=host)}")
    r = request(host, "/private?x=1", headers=basic(auth["user"], auth["password"]))
    upstream_saw(r, "api", "/private?x=1", host, "basic auth, right credentials")
    has_headers(r, PRIVATE_HEADERS, "200 behind basic auth")
    status_of(request(host, "/gone", headers=basic(auth["user"], auth["password"])), 410, "respond= behind basic auth")


def check_body_limit_raised():
    auth = PLAN["private"]
    login = basic(auth["user"], auth["password"])
    # The route's 128Ki is above the proxy's 64Ki: it applies instead, on that route only.
    r = request(auth["host"], "/big/x", method="POST", body=b"c" * 100_000, headers=login)
    seen = upstream_saw(r, "api", "/big/x", auth["host"], "100 KB under the route's raised limit 128Ki")
    expect(seen["body_len"] == 100_000, f"upstream got {seen['body_len']} bytes of 100000")
    status_of(request(auth["host"], "/big/x", method="POST", body=b"c" * 140_000, headers=login), 413, "over 128Ki")
    status_of(request(auth["host"], "/x", method="POST", body=b"c" * 100_000, headers=login), 413, "the site's 64Ki elsewhere")


def check_static_files():
    r = request(APP, "/static/hello.txt")
    status_of(r, 200, "files= route")
    expect(r.body == STATIC_TXT, f"static file body {r.body!r}")
    expect((r.header("Content-Type") or "").startswith("text/plain"), f"Content-Type {r.header('Content-Type')!r}")
    has_headers(r, {**APP_HEADERS, "Cache-Control": "max-age=3600"}, "static file with cache=1h")
    r = request(APP, "/static/")
    status_of(r, 200, "files= directory index")
    expect(r.body == STATIC_INDEX, f"index body {r.body!r}")
    r = request(APP, "/static/missing.txt")
    status_of(r, 404, "missing static file")
    # Error responses are not cached, but keep the security headers.
    has_headers(r, APP_HEADERS, "404 of a files= route", absent=["Cache-Control"])


def check_spa_fallback():
    r = request(APP, "/spa/app.js")
    status_of(r, 200, "files= with fallback, existing file")
    expect(r.body == SPA_JS, f"spa file body {r.body!r}")
    r = request(APP, "/spa/deep/link")
    status_of(r, 200, "fallback for a client-side route")
    expect(r.body == SPA_INDEX, f"fallback body {r.body!r}")


def check_gzip():
    r = request(APP, "/api/big", headers={"Accept-Encoding": "gzip"})
    status_of(r, 200, "gzip")
    expect(r.header("Content-Encoding") == "gzip", f"Content-Encoding {r.header('Content-Encoding')!r}")
    expect(json.loads(gzip.decompress(r.body))["service"] == "api", "gzip body decompresses to the answer")


def check_access_log():
    # Runs last: every earlier request is in the log, or deliberately not.
    deadline = time.time() + 5
    text = ""
    while time.time() < deadline:
        with open(PLAN["access_log"], errors="replace") as f:
            text = f.read()
        if "/health/extra" in text:
            break
        time.sleep(0.1)
    expect("/health/extra" in text, f"the access log has no line for /health/extra:\n{text[-2000:]}")
    expect("unlogged-7" not in text, "access-log=#false: /health was logged")


# Checks on the site of e2e/site-auth.kdl, which only some plans' stacks have.
def check_unknown_host():
    # No answer at all for a name no site serves: not another site's content, not a redirect
    # to https://<that name> (which a first server on port 80 would have given).
    unknown = "unknown.e2e.test"
    answer = plain_http_answer(PLAN["http_port"], unknown)
    expect(answer == b"", f"http://{unknown}: expected the connection closed without an answer, got {answer[:80]!r}")
    try:
        with socket.create_connection(("127.0.0.1", PLAN["https_port"]), timeout=10) as raw:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with ctx.wrap_socket(raw, server_hostname=unknown) as t:
                raise Failure(f"https://{unknown}: the TLS handshake succeeded ({t.version()})")
    except (ssl.SSLError, ConnectionResetError):
        pass


def check_no_version_and_no_close():
    r = request(APP, "/ws/plain")
    seen = upstream_saw(r, "ws", "/ws/plain", APP, "plain request on the WebSocket route")
    # `Connection: close` would end the upstream's keepalive connection after every request.
    got = seen["headers"].get("connection", "")
    expect("close" not in got.lower(), f"a request that does not upgrade sent Connection {got!r} to the upstream")
    server = r.header("Server") or ""
    expect(not any(c.isdigit() for c in server), f"the Server header gives the version: {server!r}")


def check_upstream_re_resolved():
    r = request(OPS, "/before")
    upstream_saw(r, "admin", "/before", OPS, "before the move")
    port = next(u["port"] for u in PLAN["upstreams"] if u["service"] == "admin")
    move_service("admin", "admin-recreated", "127.0.0.99", port)
    # nginx keeps an answer for the resolver's valid= (10 s); Go (Caddy) rereads the hosts
    # file every 5 s.
    deadline = time.time() + 15
    while True:
        time.sleep(1)
        r = request(OPS, "/after")
        if r.status == 200 and r.json()["instance"] == "admin-recreated":
            return
        if time.time() > deadline:
            raise Failure(f"15 s after admin's address changed, requests still fail or reach the old one: {r.status} {r.body[:120]!r}")


def check_route_headers():
    r = request(APP, "/hdr/x", headers={"Proxy": "http://evil.example", "X-Request-Source": "client"})
    seen = upstream_saw(r, "api", "/hdr/x", APP, "route with header settings")
    got = seen["headers"]
    expect(got.get("x-request-source") == "edge", f"request-header: the upstream saw {got.get('x-request-source')!r}")
    expect("proxy" not in got, f"request-header \"Proxy\" \"\": the upstream saw Proxy {got.get('proxy')!r}")
    # The route's headers after the site's: its X-Frame-Options replaces the preset's DENY.
    want = {**APP_HEADERS, "X-Route": "hdr", "X-Frame-Options": "SAMEORIGIN"}
    has_headers(r, want, "route with header settings", absent=["X-Upstream"])
    # Only on that route.
    r = request(APP, "/api/x")
    expect(r.header("X-Upstream") == "api" and r.header("X-Route") is None, "the route's headers leaked to /api/")


# ---------------------------------------------------------------------------------------
# Timeouts, buffering and the proxy cache (issue 11): the site ptime.e2e.test and its
# upstream `ptime`.

PTIME = "ptime.e2e.test"
STREAM_FIRST = threading.Event()  # set when the upstream has the first chunk of a /stream body
CHUNK = 4096


def ptime_answer(h):
    """The `ptime` upstream's own answers: a body read chunk by chunk (`/stream`, so the test
    can tell when its first part arrived) and a response without Cache-Control
    (`/cacheable`, which the route's `proxy-cache=` alone makes cacheable). Other paths get
    the common answer (and `/sleep` its delay)."""
    if h.service != "ptime" or not any(p in h.path for p in ("/stream", "/cacheable")):
        return False
    received = 0
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        while True:
            size = int(h.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                h.rfile.readline()
                break
            received += len(h.rfile.read(size))
            h.rfile.readline()
            STREAM_FIRST.set()
    else:
        length = int(h.headers.get("Content-Length") or 0)
        received = len(h.rfile.read(length)) if length else 0
        if received:
            STREAM_FIRST.set()
    with HITS_LOCK:
        HITS.append((h.service, h.instance, h.headers.get("Host", ""), h.path))
    payload = json.dumps({"service": h.service, "path": h.path, "body_len": received, "at": time.time()}).encode()
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(payload)))
    h.end_headers()
    h.wfile.write(payload)
    return True


def check_read_timeout():
    upstream_saw(request(PTIME, "/slow/quick"), "ptime", "/slow/quick", PTIME, "read-timeout=1s, quick answer")
    started = time.time()
    r = request(PTIME, "/slow/sleep")
    status_of(r, 504, "read-timeout=1s, upstream answers after 3 s")
    took = time.time() - started
    expect(took < 2.9, f"the 504 came after {took:.1f} s, not before the upstream answered")
    # Another route of the same upstream has no read timeout: it waits for the slow answer.
    started = time.time()
    upstream_saw(request(PTIME, "/fast/sleep"), "ptime", "/fast/sleep", PTIME, "no read-timeout, slow answer")
    expect(time.time() - started >= 2.9, "the route without read-timeout answered before the upstream did")


def stream_upload(path, wait):
    """POSTs a chunked body in two parts over a raw HTTP/1.1 connection, the second only after
    the upstream has the first or `wait` seconds have passed: (whether the upstream had the
    first part before the client sent the last, status, response body)."""
    STREAM_FIRST.clear()
    raw = socket.create_connection(("127.0.0.1", PLAN["https_port"]), timeout=10)
    s = tls_context().wrap_socket(raw, server_hostname=PTIME)
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {PTIME}\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
        )
        s.sendall(head.encode() + b"%x\r\n" % CHUNK + b"a" * CHUNK + b"\r\n")
        early = STREAM_FIRST.wait(wait)
        s.sendall(b"%x\r\n" % CHUNK + b"b" * CHUNK + b"\r\n0\r\n\r\n")
        data = recv_all(s)
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return early, status, body


def check_streamed_upload():
    early, status, body = stream_upload("/stream/up", 5)
    expect(status == 200, f"request-buffering=#false: status {status} ({body[:160]!r})")
    expect(early, "request-buffering=#false: the upstream had nothing before the client sent the last chunk")
    expect(b'"body_len": %d' % (2 * CHUNK) in body, f"the upstream did not get the whole body: {body[:160]!r}")
    if PLAN["kind"] == "nginx":
        # nginx buffers a request body by default (the route without the setting): the
        # upstream gets it only once it is complete. Caddy streams every body (no control).
        early, status, body = stream_upload("/buffered/stream", 1.5)
        expect(status == 200, f"buffered route: status {status} ({body[:160]!r})")
        expect(not early, "the buffered route passed the first chunk on before the body was complete")


def check_proxy_cache():
    path = f"/cached/cacheable?run={time.time()}"
    before = len(hits("ptime"))
    first = request(PTIME, path)
    status_of(first, 200, "proxy-cache=1m, first request")
    expect(first.header("X-Cache-Status") == "MISS", f"first request: X-Cache-Status {first.header('X-Cache-Status')!r}")
    second = request(PTIME, path)
    status_of(second, 200, "proxy-cache=1m, second request")
    expect(second.header("X-Cache-Status") == "HIT", f"second request: X-Cache-Status {second.header('X-Cache-Status')!r}")
    expect(second.body == first.body, "the cached answer differs from the first")
    expect(len(hits("ptime")) == before + 1, f"the upstream answered {len(hits('ptime')) - before} times, not once")
    # A user's own request is neither answered from the cache nor stored.
    for name, value in (("Authorization", "Bearer e2e"), ("Cookie", "session=e2e")):
        r = request(PTIME, path, headers={name: value})
        status_of(r, 200, f"cached route with {name}")
        expect(r.header("X-Cache-Status") == "BYPASS", f"with {name}: X-Cache-Status {r.header('X-Cache-Status')!r}")
    expect(len(hits("ptime")) == before + 3, "requests with credentials were answered from the cache")
    # An uncached route says nothing of the cache.
    expect(request(PTIME, "/fast/x").header("X-Cache-Status") is None, "X-Cache-Status on an uncached route")


# Raw directives (`site`/`route > nginx`, `caddy`): the site raw.e2e.test of site.stack.kdl.

RAW = "raw.e2e.test"


def check_raw_directives():
    kind = PLAN["kind"]
    r = request(RAW, "/raw/x")
    seen = upstream_saw(r, "api", "/raw/x", RAW, "route with raw directives")
    # The route's raw request header, in the target's own spelling.
    got = seen["headers"].get("x-raw-route")
    expect(got == kind, f"the route's raw directive: the upstream saw X-Raw-Route {got!r}, expected {kind!r}")
    # The site's raw response header, next to the stack's own headers.
    expect(r.header("X-Raw-Site") == kind, f"the site's raw directive: X-Raw-Site {r.header('X-Raw-Site')!r}")
    has_headers(r, {**STRICT, **COMMON}, "site with raw directives")
    # A raw block (nginx `if`, a Caddy matcher) answers before the upstream.
    before = len(hits("api", RAW))
    r = request(RAW, "/raw/blocked", headers={"X-Raw-Block": "yes"})
    status_of(r, 418, "the raw block's answer")
    expect(len(hits("api", RAW)) == before, "the raw block's request reached the upstream")


# ---------------------------------------------------------------------------------------
# A site on a port of its own (`site > listen`): plain.e2e.test of site.stack.kdl.

PLAIN = "plain.e2e.test"


def plain_request(host, path):
    port = PLAN["plain_port"]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": f"{host}:{port}"})
        r = conn.getresponse()
        return Resp(r.status, r.headers, r.read())
    finally:
        conn.close()


def check_site_on_its_own_port():
    PLAIN_PORT = PLAN["plain_port"]
    r = plain_request(PLAIN, "/plain/x")
    status_of(r, 200, f"http://{PLAIN}:{PLAIN_PORT}/plain/x")
    seen = r.json()
    expect(seen["service"] == "api" and seen["path"] == "/plain/x", f"the plain site reached {seen['instance']} {seen['path']!r}")
    # nginx's `$host` drops the port; Caddy passes the client's Host as it is.
    host = seen["headers"].get("host")
    expect(host in (PLAIN, f"{PLAIN}:{PLAIN_PORT}"), f"the upstream saw Host {host!r}")
    # Plain HTTP there: no redirect to HTTPS, and no HSTS on it.
    expect(r.header("Strict-Transport-Security") is None, "HSTS on a plain-HTTP site")
    expect(r.header("X-Content-Type-Options") == "nosniff", "the plain site lost the preset's headers")
    # The port serves no other site, and the site is not served on 80: no answer at all.
    for port, host in [(PLAIN_PORT, APP), (PLAN["http_port"], PLAIN)]:
        answer = plain_http_answer(port, host)
        expect(answer == b"", f"{host} answered on port {port}: {answer[:80]!r}")


# Static files, matching priority and rewrites (issue 11): site static.e2e.test.

STATIC = "static.e2e.test"
PUBLIC_TXT = b"a file of the public directory\n"
PUBLIC_HOME = b"<!doctype html><title>home (index=home.html)</title>\n"
PUBLIC_JS = b"console.log('plain');\n"
# Not the plain file compressed: a proxy that compressed app.js itself would not send this.
PUBLIC_JS_GZ = gzip.compress(b"console.log('from app.js.gz');\n", mtime=0)
ALIASED_CSS = b"body { color: teal }\n"
MEDIA_PNG = b"\x89PNG from the media directory\n"


def put_static_site_files():
    root = PLAN["static_root"]
    files = {
        "public/hello.txt": PUBLIC_TXT,
        "public/home.html": PUBLIC_HOME,
        "public/app.js": PUBLIC_JS,
        "public/app.js.gz": PUBLIC_JS_GZ,
        # Under the route's directory without the /static/ prefix of the URL.
        "public-static/x.css": ALIASED_CSS,
        "media/logo.png": MEDIA_PNG,
        "public/data.stx": PUBLIC_TXT,
    }
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def static_file(path, body, what, headers=None):
    """A file of static.e2e.test's directories, served from disk with this body."""
    put_static_site_files()
    r = request(STATIC, path, headers=headers)
    status_of(r, 200, what)
    expect(r.body == body, f"{what}: {path} has the body {r.body[:120]!r}")
    return r


def check_static_try_files():
    before = len(hits(host=STATIC))
    static_file("/hello.txt", PUBLIC_TXT, "a file that exists")
    static_file("/", PUBLIC_HOME, "the directory's index=home.html")
    expect(len(hits(host=STATIC)) == before, "a file that exists reached the upstream")
    # A missing file goes to fallback-to= with the URI the client sent.
    upstream_saw(request(STATIC, "/users/42?tab=posts"), "api", "/users/42?tab=posts", STATIC, "fallback-to=")


def check_static_alias():
    static_file("/static/x.css", ALIASED_CSS, "a prefix route, from its directory without the prefix")
    upstream_saw(request(STATIC, "/static/missing.css"), "api", "/static/missing.css", STATIC, "prefix route's fallback-to=")


def check_static_replace_prefix():
    r = request(STATIC, "/assets/app.js?v=2")
    upstream_saw(r, "api", "/static/dist/app.js?v=2", STATIC, "replace-prefix=")


def check_static_before_regex():
    static_file("/media/logo.png", MEDIA_PNG, "the before-regex= prefix route, not the regex route")
    # Elsewhere the regular expression wins over the / prefix.
    upstream_saw(request(STATIC, "/elsewhere/logo.png"), "web", "/elsewhere/logo.png", STATIC, "regex route")


def check_static_precompressed():
    # The .gz file as it is: not app.js compressed by the proxy.
    r = static_file("/app.js", PUBLIC_JS_GZ, "precompressed file", headers={"Accept-Encoding": "gzip"})
    expect(r.header("Content-Encoding") == "gzip", f"Content-Encoding {r.header('Content-Encoding')!r}")
    r = static_file("/app.js", PUBLIC_JS, "without Accept-Encoding")
    expect(r.header("Content-Encoding") is None, f"without Accept-Encoding: Content-Encoding {r.header('Content-Encoding')!r}")


def check_static_mime_type():
    r = static_file("/data.stx", PUBLIC_TXT, "a file of a mime-type extension")
    expect(r.header("Content-Type") == "application/x-stackc-e2e", f"mime-type: Content-Type {r.header('Content-Type')!r}")
    # The proxy's own table still applies to the other files.
    r = static_file("/hello.txt", PUBLIC_TXT, "a file of the proxy's table")
    expect((r.header("Content-Type") or "").startswith("text/plain"), f"hello.txt: Content-Type {r.header('Content-Type')!r}")


STATIC_CHECKS = [
    ("static-try-files", "files= with fallback-to=: a file from disk, else the app with the original URI", check_static_try_files),
    ("static-alias", "a prefix files= route serves /static/x.css from its directory without the prefix", check_static_alias),
    ("static-replace-prefix", "replace-prefix= makes the upstream see the replaced path", check_static_replace_prefix),
    ("static-before-regex", "a before-regex= prefix beats a regex that matches too", check_static_before_regex),
    ("static-precompressed", "precompressed=: the .gz file with Content-Encoding: gzip", check_static_precompressed),
    ("static-mime-type", "mime-type gives files of its extensions their Content-Type, the rest keep theirs", check_static_mime_type),
]


PRIVATE_CHECKS = {"basic-auth", "body-limit-raised"}

CHECKS = [
    ("http-redirect", "port 80 redirects to https with the same host, path and query", check_http_redirect),
    ("acme-challenge", "ACME http-01 tokens are served from the webroot over plain HTTP", check_acme_challenge),
    ("tls-http2", "every host's certificate verifies; TLS 1.2+; HTTP/2 by ALPN", check_tls_and_http2),
    ("ipv6", "the IPv6 listeners serve the same site", check_ipv6),
    ("redirect-from", "redirect-from hosts redirect to the first host", check_redirect_from),
    ("prefix-forwarding", "prefix route reaches its service with Host and X-Forwarded-*", check_prefix_route_and_forwarding),
    ("replicas", "requests are balanced over every replica", check_replicas),
    ("strip-prefix", "strip-prefix removes the route's prefix", check_strip_prefix),
    ("timeout", "timeout= gives 504 when the upstream is slower", check_timeout),
    ("exact", "exact route matches only its path", check_exact_route),
    ("regex", "case-insensitive regex route with cache= headers", check_regex_route),
    ("websocket", "WebSocket upgrade reaches the upstream and the tunnel carries frames", check_websocket),
    ("internal", "internal route: 404 from outside, the upstream not reached", check_internal),
    ("internal-handoff", "internal route: reachable by the upstream's X-Accel-Redirect", check_internal_handoff),
    ("body-limit", "body-limit of the route and of the proxy give 413", check_body_limit),
    ("rate-limit", "rate limit rejects with 429 after its burst", check_rate_limit),
    ("allow-from-deny", "allow-from: 403 for a client outside the ranges, on every route", check_allow_from_denies),
    ("allow-from-allow", "allow-from: a client inside the ranges gets through", check_allow_from_allows),
    ("respond-redirect", "respond= and redirect= routes, with headers", check_respond_and_redirect_routes),
    ("basic-auth", "basic-auth: 401 with a challenge without the right credentials, 200 with", check_basic_auth),
    ("body-limit-raised", "a route's body-limit above the proxy's applies on that route", check_body_limit_raised),
    ("files", "files= serves files with Cache-Control and an index", check_static_files),
    ("spa-fallback", "files= with fallback= serves the app shell for unknown paths", check_spa_fallback),
    ("gzip", "gzip compresses JSON answers", check_gzip),
    ("access-log", "access-log=#false keeps a route out of the access log", check_access_log),
    ("route-headers", "request-header, a route's header and hide-header apply on that route only", check_route_headers),
    ("unknown-host", "a host no site serves gets no answer (HTTP closed, TLS refused)", check_unknown_host),
    ("no-version-no-close", "no version in Server; no Connection: close to upstreams", check_no_version_and_no_close),
    # Issue 11: timeouts, buffering and the proxy cache (site ptime.e2e.test).
    ("read-timeout", "read-timeout= gives 504 when the upstream is slower; another route waits", check_read_timeout),
    ("streamed-upload", "request-buffering=#false passes a chunked body on before it is complete", check_streamed_upload),
    ("proxy-cache", "proxy-cache=: MISS then HIT without the upstream; BYPASS with credentials", check_proxy_cache),
    ("raw-directives", "a site's and a route's raw directives take effect in their target", check_raw_directives),
    ("site-own-port", "a site with `listen` answers over plain HTTP on its port, and only there", check_site_on_its_own_port),
    *STATIC_CHECKS,
    # Last: it retires the admin upstream's instance.
    ("re-resolve", "an upstream whose address changes is reached at its new one", check_upstream_re_resolved),
]


# ---------------------------------------------------------------------------------------
# CORS, the real client IP, allowed methods and error pages (issue 11): the site
# edge.e2e.test and `proxy > real-ip "127.0.0.3/32"` of e2e/site.stack.kdl.

EDGE = "edge.e2e.test"
EDGE_ORIGIN = "https://app.e2e.test"
EVIL_ORIGIN = "https://evil.example"
ERROR_PAGE = b"<!doctype html><title>back soon</title>\n"


def cors_headers(r):
    return {k: v for k, v in r.headers.items() if k.lower().startswith("access-control-")}


def check_cors():
    before = len(hits(host=EDGE))
    preflight = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"}
    r = request(EDGE, "/items", method="OPTIONS", headers={"Origin": EDGE_ORIGIN, **preflight})
    status_of(r, 204, "preflight from an allowed origin")
    want = {
        "Access-Control-Allow-Origin": EDGE_ORIGIN,
        "Access-Control-Allow-Methods": "GET, POST, PUT",
        "Access-Control-Allow-Headers": "Content-Type, X-Token",
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Max-Age": "600",
    }
    has_headers(r, want, "preflight from an allowed origin")
    vary = ", ".join(r.headers.get_all("Vary") or [])
    expect("Origin" in vary, f"an echoed origin needs Vary: Origin, got Vary {vary!r}")
    r = request(EDGE, "/items", method="OPTIONS", headers={"Origin": EVIL_ORIGIN, **preflight})
    status_of(r, 204, "preflight from another origin")
    expect(not cors_headers(r), f"preflight from another origin got CORS headers {cors_headers(r)}")
    expect(len(hits(host=EDGE)) == before, "a preflight reached the upstream: the proxy must answer it")
    r = request(EDGE, "/items", headers={"Origin": EDGE_ORIGIN})
    upstream_saw(r, "api", "/items", EDGE, "request from an allowed origin")
    want = {
        "Access-Control-Allow-Origin": EDGE_ORIGIN,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": "X-Upstream",
    }
    has_headers(r, want, "request from an allowed origin", absent=["Access-Control-Allow-Methods"])
    r = request(EDGE, "/items", headers={"Origin": EVIL_ORIGIN})
    upstream_saw(r, "api", "/items", EDGE, "request from another origin")
    expect(not cors_headers(r), f"a request from another origin got CORS headers {cors_headers(r)}")


def request_from(source, host, path, headers):
    """A request whose connection comes from `source` (a loopback address)."""
    conn = http.client.HTTPSConnection(
        host, PLAN["https_port"], context=tls_context(), timeout=10, source_address=(source, 0)
    )
    try:
        conn.request("GET", path, headers={"Host": host, **headers})
        r = conn.getresponse()
        return Resp(r.status, r.headers, r.read())
    finally:
        conn.close()


def check_real_ip():
    spoof = {"X-Forwarded-For": "203.0.113.7"}
    # From the trusted load balancer: its header names the client.
    r = request_from("127.0.0.3", EDGE, "/whoami-trusted", spoof)
    seen = upstream_saw(r, "api", "/whoami-trusted", EDGE, "request through the trusted proxy")
    got = seen["headers"].get("x-real-ip")
    expect(got == "203.0.113.7", f"through the trusted proxy the upstream saw X-Real-IP {got!r}, expected 203.0.113.7")
    # From anywhere else the header is not believed.
    r = request_from("127.0.0.2", EDGE, "/whoami-untrusted", spoof)
    seen = upstream_saw(r, "api", "/whoami-untrusted", EDGE, "request from an untrusted address")
    got = seen["headers"].get("x-real-ip")
    expect(got == "127.0.0.2", f"an untrusted client set the upstream's X-Real-IP to {got!r}, expected 127.0.0.2")
    deadline = time.time() + 5
    lines = []
    while time.time() < deadline and len(lines) < 2:
        with open(PLAN["access_log"], errors="replace") as f:
            lines = [l for l in f if "/whoami-" in l]
        time.sleep(0.1)
    trusted = [l for l in lines if "/whoami-trusted" in l]
    expect(trusted and "203.0.113.7" in trusted[0], f"the access log does not show the real client: {lines}")
    untrusted = [l for l in lines if "/whoami-untrusted" in l]
    expect(untrusted and "203.0.113.7" not in untrusted[0], f"the access log believed an untrusted client: {lines}")


def check_methods():
    upstream_saw(request(EDGE, "/ro/x"), "api", "/ro/x", EDGE, "GET on a GET-only route")
    # (No HEAD through to the test upstream: it answers HEAD with a body, which would
    # poison a keepalive connection; `Allow` below lists HEAD.)
    before = len(hits(host=EDGE))
    for method in ("DELETE", "POST"):
        r = request(EDGE, "/ro/x", method=method, body=b"" if method == "POST" else None)
        status_of(r, 405, f"{method} on a GET-only route")
        allow = r.header("Allow") or ""
        expect({m.strip() for m in allow.split(",")} == {"GET", "HEAD"}, f"405 with Allow {allow!r}")
    expect(len(hits(host=EDGE)) == before, "a refused method reached the upstream")


def check_error_page():
    path = os.path.join(PLAN["static_root"], "errors", "50x.html")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(ERROR_PAGE)
    for u in PLAN["upstreams"]:
        if u["service"] == "gone":
            RETIRED.add(u["instance"])
    r = request(EDGE, "/down/x")
    status_of(r, 502, "the upstream is down")
    expect(r.body == ERROR_PAGE, f"the upstream is down: expected the site's error page, got {r.body[:200]!r}")
    # Only the proxy's own errors: an upstream's answer passes as it is.
    upstream_saw(request(EDGE, "/up"), "api", "/up", EDGE, "the site's other routes")


EDGE_CHECKS = [
    ("cors", "CORS: the proxy answers preflights; only listed origins get CORS headers", check_cors),
    ("real-ip", "real-ip: a trusted proxy's X-Forwarded-For gives the client's address, nobody else's", check_real_ip),
    ("methods", "methods: other methods get 405 with Allow, before the upstream", check_methods),
    ("error-page", "error-page: the site's page when the upstream is down", check_error_page),
]
# Before the last check (re-resolve), which retires an upstream.
CHECKS[-1:-1] = EDGE_CHECKS


# ---------------------------------------------------------------------------------------
# Setup and teardown


def enter_sandbox(workdir):
    # The caller's namespaces are in the plan: the mount and the servers must not reach them.
    for kind in ("mnt", "net"):
        if os.stat(f"/proc/self/ns/{kind}").st_ino == PLAN["outer_namespaces"][kind]:
            sys.exit(f"refusing to run: not in a private {kind} namespace (run under `unshare -m -n`)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    hosts = os.path.join(workdir, "hosts")
    lines = ["127.0.0.1 localhost " + " ".join(PLAN["hosts"]), "::1 localhost"]
    lines += [f"{u['addr']} {u['service']}" for u in PLAN["upstreams"]]
    with open(hosts, "w") as f:
        f.write("\n".join(lines) + "\n")
    subprocess.run(["mount", "--bind", hosts, "/etc/hosts"], check=True)
    for u in PLAN["upstreams"]:
        DNS.setdefault(u["service"], []).append(u["addr"])


def move_service(service, instance, addr, port):
    """The service's containers recreated with a new address: the old instance is gone, the
    hosts file (Caddy's resolver) and the DNS server (nginx's) give the new one."""
    for u in PLAN["upstreams"]:
        if u["service"] == service:
            RETIRED.add(u["instance"])
    start_upstream({"service": service, "instance": instance, "addr": addr, "port": port})
    with DNS_LOCK:
        DNS[service] = [addr]
    with open("/etc/hosts") as f:
        lines = [l for l in f.read().splitlines() if not l.endswith(f" {service}")]
    with open("/etc/hosts", "w") as f:  # in place: the bind mount keeps the inode
        f.write("\n".join(lines + [f"{addr} {service}"]) + "\n")


def write_site_files():
    def put(path, data):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    put(os.path.join(PLAN["acme_root"], ".well-known/acme-challenge", ACME_TOKEN), ACME_BODY)
    put(os.path.join(PLAN["static_root"], "static/hello.txt"), STATIC_TXT)
    put(os.path.join(PLAN["static_root"], "static/index.html"), STATIC_INDEX)
    put(os.path.join(PLAN["static_root"], "spa/index.html"), SPA_INDEX)
    put(os.path.join(PLAN["static_root"], "spa/app.js"), SPA_JS)


def wait_ready(proc, log):
    # Listening is not enough: a proxy that makes its certificates when it starts (Caddy's
    # own CA) may accept connections before it has one for every host.
    deadline = time.time() + 15
    last = None
    while time.time() < deadline:
        if proc.poll() is not None:
            raise Failure(f"the proxy exited with {proc.returncode} before listening:\n{tail(log)}")
        try:
            socket.create_connection(("127.0.0.1", PLAN["http_port"]), timeout=1).close()
            # The plain-HTTP site on its own port has no certificate.
            for host in (h for h in PLAN["hosts"] if h != PLAIN):
                with socket.create_connection(("127.0.0.1", PLAN["https_port"]), timeout=1) as raw:
                    tls_context().wrap_socket(raw, server_hostname=host).close()
            return
        except (OSError, ssl.SSLError) as e:
            last = e
            time.sleep(0.1)
    raise Failure(
        f"the proxy did not serve http on {PLAN['http_port']} and verified https on {PLAN['https_port']} "
        f"for every host within 15 s ({last}):\n{tail(log)}"
    )


def tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return f"({path}: {e})"


def die_with_parent():
    # If this script is killed, the proxy must not outlive it in the namespace.
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def on_alarm(signum, frame):
    raise TimeoutError("the end-to-end test took longer than 180 s")


def run_check(cid, what, fn, failures):
    """Runs one check: `ok` or `FAIL` with the reason, which is added to `failures`."""
    try:
        fn()
        print(f"ok   {cid}: {what}")
    except Failure as e:
        failures.append(f"{cid}: {e}")
        print(f"FAIL {cid}: {e}")
    except Exception:
        failures.append(f"{cid}: {traceback.format_exc()}")
        print(f"FAIL {cid}: {traceback.format_exc()}")


def main():
    global PLAN
    with open(sys.argv[1]) as f:
        PLAN = json.load(f)
    workdir = os.path.dirname(os.path.abspath(sys.argv[1]))
    enter_sandbox(workdir)
    write_site_files()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(180)
    proc = None
    upstreams = []
    failures = []
    ran = 0
    try:
        start_dns()
        upstreams = start_upstreams()
        out = open(os.path.join(workdir, "proxy.out"), "wb")
        env = {**os.environ, **PLAN.get("env", {})}
        proc = subprocess.Popen(
            PLAN["command"], stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=die_with_parent
        )
        wait_ready(proc, PLAN["error_log"])
        for cid, what, fn in CHECKS:
            if cid in PRIVATE_CHECKS and "private" not in PLAN:
                print(f"n/a  {cid}: the plan's stack has no private site (e2e/site-auth.kdl)")
                continue
            if cid in PLAN.get("skip", {}):
                print(f"SKIP {cid}: {what} -- {PLAN['kind']}: {PLAN['skip'][cid]}")
                continue
            ran += 1
            run_check(cid, what, fn, failures)
        unknown = set(PLAN.get("skip", {})) - {c[0] for c in CHECKS}
        if unknown:
            failures.append(f"the plan skips unknown checks {sorted(unknown)}")
    except (Failure, TimeoutError, OSError) as e:
        failures.append(f"setup: {e}")
    finally:
        signal.alarm(0)
        stop(proc)
        for srv in upstreams:
            srv.shutdown()
            srv.server_close()
    if failures:
        print(f"\n{len(failures)} expectation(s) failed on {PLAN['kind']}:")
        for f in failures:
            print(f"  - {f}")
        print(f"\n{PLAN['kind']} log:\n{tail(PLAN['error_log'])}{tail(os.path.join(workdir, 'proxy.out'))}")
        sys.exit(1)
    print(f"\nall {ran} checks passed on {PLAN['kind']}")


if __name__ == "__main__":
    main()
