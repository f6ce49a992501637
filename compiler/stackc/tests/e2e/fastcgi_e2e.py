#!/usr/bin/env python3
"""End-to-end test of a generated FastCGI route (`route … fastcgi="app" root=…`) on a real
proxy and a real PHP-FPM.

Run by compiler/stackc/tests/fastcgi_e2e.rs as

    unshare -m -n -- python3 fastcgi_e2e.py PLAN.json

inside a private mount and network namespace (proxy_e2e.py's sandbox: loopback up, a private
hosts file over /etc/hosts, Docker's DNS server on 127.0.0.11). It writes a PHP application
into the directory the stack's /srv/e2e/php stands for, starts PHP-FPM on the upstream's
address with a pool configuration of its own (the current user, in the foreground), starts
the proxy, and proves with real HTTP requests what `e2e/fastcgi.stack.kdl` asks for.

PLAN.json (written by the Rust test): proxy_e2e.py's `kind`, `command`, `env`, `http_port`,
`hosts`, `upstreams` (the FastCGI service: one entry), `error_log`, `outer_namespaces`, and
  php_fpm       the php-fpm program
  php_root      the directory that the stack's /srv/e2e/php stands for
"""

import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import time

import proxy_e2e as base
from proxy_e2e import Failure, expect, request, status_of

HOST = "php.e2e.test"
STATIC = b"<?php echo 'this must not run'; ?> static text\n"
ENV_FILE = b"DB_PASSWORD=never-served\n"
# Echoes what PHP-FPM was asked to run, one `name=value` line each.
SCRIPT = b"""<?php
header('Content-Type: text/plain');
echo 'script=', $_SERVER['SCRIPT_FILENAME'], "\\n";
echo 'path_info=', $_SERVER['PATH_INFO'] ?? '', "\\n";
echo 'q=', $_GET['q'] ?? '', "\\n";
echo 'source=', $_SERVER['HTTP_X_REQUEST_SOURCE'] ?? '', "\\n";
echo 'proxy=', getenv('HTTP_PROXY') ?: '', "\\n";
"""


def write_app():
    root = base.PLAN["php_root"]
    for rel, data in [
        ("index.php", SCRIPT),
        ("blog/index.php", SCRIPT),
        ("hello.txt", STATIC),
        (".env", ENV_FILE),
        (".git/config", b"[core]\n"),
    ]:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def start_php_fpm(workdir):
    """PHP-FPM in the foreground on the upstream's address, as the current user (root needs -R)."""
    u = base.PLAN["upstreams"][0]
    user = getpass.getuser()
    conf = os.path.join(workdir, "php-fpm.conf")
    with open(conf, "w") as f:
        f.write(
            f"""[global]
pid = {workdir}/php-fpm.pid
error_log = {workdir}/php-fpm.log
daemonize = no

[app]
user = {user}
group = {user}
listen = {u['addr']}:{u['port']}
pm = static
pm.max_children = 2
catch_workers_output = yes
"""
        )
    argv = [base.PLAN["php_fpm"], "-n", "-y", conf, "-F"]
    if os.getuid() == 0:
        argv.append("-R")
    out = open(os.path.join(workdir, "php-fpm.out"), "wb")
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, preexec_fn=base.die_with_parent)
    wait_port(proc, u["addr"], u["port"], os.path.join(workdir, "php-fpm.log"))
    return proc


def wait_port(proc, addr, port, log):
    deadline = time.time() + 15
    while time.time() < deadline:
        if proc.poll() is not None:
            raise Failure(f"{proc.args[0]} exited with {proc.returncode} before listening:\n{base.tail(log)}")
        try:
            socket.create_connection((addr, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise Failure(f"nothing listened on {addr}:{port} within 15 s:\n{base.tail(log)}")


def ran(path, want):
    """GET `path`: PHP ran the script and saw each `name=value` of `want`."""
    r = request(HOST, path, scheme="http")
    status_of(r, 200, f"GET {path}")
    seen = dict(line.split("=", 1) for line in r.body.decode().splitlines() if "=" in line)
    for name, value in want.items():
        expect(seen.get(name) == value, f"GET {path}: PHP saw {name}={seen.get(name)!r}, expected {value!r} ({r.body!r})")
    return seen


def index():
    return os.path.join(base.PLAN["php_root"], "index.php")


def check_script():
    ran("/index.php?q=direct", {"script": index(), "path_info": "", "q": "direct", "proxy": ""})


def check_directory_index():
    ran("/?q=root", {"script": index(), "q": "root"})


def check_path_info():
    ran("/index.php/extra/path?q=info", {"script": index(), "path_info": "/extra/path", "q": "info"})


def check_front_controller():
    ran("/articles/42?q=pretty", {"script": index(), "q": "pretty"})


def check_prefix_route():
    blog = os.path.join(base.PLAN["php_root"], "blog/index.php")
    ran("/blog/2024/hello?q=blog", {"script": blog, "q": "blog", "source": "edge"})


def check_static_file():
    r = request(HOST, "/hello.txt", scheme="http")
    status_of(r, 200, "GET /hello.txt")
    expect(r.body == STATIC, f"GET /hello.txt: expected the file as it is (not run by PHP), got {r.body!r}")


def check_hidden_files():
    for path in ["/.env", "/.git/config", "/blog/.env"]:
        r = request(HOST, path, scheme="http")
        status_of(r, 403, f"GET {path}")
        expect(b"never-served" not in r.body, f"GET {path}: the hidden file's content was served")


def check_httpoxy():
    # A client's `Proxy:` header must not become the application's HTTP_PROXY.
    r = request(HOST, "/index.php", scheme="http", headers={"Proxy": "http://evil.example:1"})
    status_of(r, 200, "GET /index.php with Proxy:")
    expect(b"proxy=\n" in r.body, f"the application saw the client's Proxy header: {r.body!r}")


CHECKS = [
    ("script", "GET /index.php runs the script through PHP-FPM with SCRIPT_FILENAME and the query", check_script),
    ("index", "GET / runs index.php", check_directory_index),
    ("path-info", "GET /index.php/extra/path passes PATH_INFO", check_path_info),
    ("front-controller", "a path with no file goes to /index.php with its query", check_front_controller),
    ("prefix", "a route under /blog/ has its own front controller and request header", check_prefix_route),
    ("static", "a static file next to the scripts is served by the proxy, not run", check_static_file),
    ("hidden", "/.env, /.git/ are refused (403)", check_hidden_files),
    ("httpoxy", "the client's Proxy header does not reach PHP", check_httpoxy),
]


def main():
    with open(sys.argv[1]) as f:
        base.PLAN = json.load(f)
    plan = base.PLAN
    workdir = os.path.dirname(os.path.abspath(sys.argv[1]))
    base.enter_sandbox(workdir)
    write_app()
    signal.signal(signal.SIGALRM, base.on_alarm)
    signal.alarm(180)
    fpm = proxy = None
    failures = []
    try:
        base.start_dns()
        fpm = start_php_fpm(workdir)
        out = open(os.path.join(workdir, "proxy.out"), "wb")
        env = {**os.environ, **plan.get("env", {})}
        proxy = subprocess.Popen(
            plan["command"], stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=base.die_with_parent
        )
        wait_port(proxy, "127.0.0.1", plan["http_port"], plan["error_log"])
        for cid, what, fn in CHECKS:
            base.run_check(cid, what, fn, failures)
    except (Failure, TimeoutError, OSError) as e:
        failures.append(f"setup: {e}")
    finally:
        signal.alarm(0)
        base.stop(proxy)
        base.stop(fpm)
    if failures:
        print(f"\n{len(failures)} expectation(s) failed on {plan['kind']} + PHP-FPM:")
        for f in failures:
            print(f"  - {f}")
        print(f"\n{plan['kind']} log:\n{base.tail(plan['error_log'])}{base.tail(os.path.join(workdir, 'proxy.out'))}")
        print(f"\nphp-fpm log:\n{base.tail(os.path.join(workdir, 'php-fpm.log'))}")
        sys.exit(1)
    print(f"\nall {len(CHECKS)} checks passed on {plan['kind']} + PHP-FPM")


if __name__ == "__main__":
    main()
