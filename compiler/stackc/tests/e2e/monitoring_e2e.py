#!/usr/bin/env python3
"""End-to-end test of a generated Prometheus and Alertmanager configuration on the real servers.

Run by compiler/stackc/tests/prometheus_e2e.rs as

    unshare -m -n -- python3 monitoring_e2e.py PLAN.json

inside a private mount and network namespace (the script refuses to run outside one): it
brings up the loopback interface and bind-mounts a private hosts file over /etc/hosts in which
every host the configuration names (`api`, `node-exporter`, `alertmanager`, ...) is 127.0.0.1,
so the generated files are used with their own addresses and ports. It then

1. starts one small HTTP server per scrape target of the plan (the stack's service, the
   exporters) and a webhook receiver that stands for Slack;
2. starts Alertmanager and Prometheus with the plan's commands;
3. proves through Prometheus' HTTP API that every target of every job is `up == 1`, and that
   the blackbox job's scrapes reached the exporter with the probe's URL and module;
4. raises `queue_depth` over the warning threshold: the warning passes the generated route
   tree and reaches the default receiver (its path is the receiver's secret's name);
5. raises it over the critical threshold: the critical (the same alert name) reaches the
   receiver of the route for critical alerts, and Alertmanager's API shows the warning suppressed by the generated inhibit
   rule while Prometheus still fires it (and no second warning notification arrives).

Whatever happens, every process and server is stopped in a `finally`, and the script exits
non-zero with the failed step and the servers' logs.

Python standard library only.

PLAN.json (written by the Rust test):
  prometheus     argv that runs Prometheus in the foreground
  alertmanager   argv that runs Alertmanager in the foreground
  dir            the test's directory (logs go there)
  hosts          host names that resolve to 127.0.0.1
  targets        [{job, port, kind}]: one server each; kind "service" (serves queue_depth),
                 "exporter", "blackbox" (answers /probe by probing the target)
  jobs           the job names prometheus.yml has: each must have its targets up
  probe          {url, module}: what the blackbox exporter must be asked
  receiver_port  the port of the webhook receiver (the secret file holds its URL)
  alerts         {name, metric, warning_value, critical_value, warning_path, critical_path}:
                 one alert name with a warning and a critical rule on `metric`, the values
                 that make each true, and the receiver path each severity's route leads to
  outer_namespaces  {"mnt": inode, "net": inode} of the caller, which this script must not be in
"""

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PLAN = json.load(open(sys.argv[1]))
STATE = {"queue_depth": 5}
LOCK = threading.Lock()
PROBES = []  # query strings the blackbox server was asked
NOTIFICATIONS = []  # bodies the receiver got


def log(msg):
    print(msg, flush=True)


class Metrics(BaseHTTPRequestHandler):
    kind = "exporter"
    job = ""

    def log_message(self, *args):
        pass

    def answer(self, code, body, ctype="text/plain; version=0.0.4"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/health":
            return self.answer(200, "ok\n", "text/plain")
        if self.kind == "blackbox" and url.path == "/probe":
            query = urllib.parse.parse_qs(url.query)
            with LOCK:
                PROBES.append(query)
            target = query.get("target", [""])[0]
            try:
                with urllib.request.urlopen(target, timeout=2) as r:
                    ok = r.status == 200
            except Exception:
                ok = False
            return self.answer(200, f"probe_success {1 if ok else 0}\n")
        if url.path != "/metrics":
            return self.answer(404, "not found\n", "text/plain")
        body = f'e2e_server_info{{job="{self.job}"}} 1\n'
        if self.kind == "service":
            with LOCK:
                body += f"queue_depth {STATE['queue_depth']}\n"
        return self.answer(200, body)


class Receiver(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with LOCK:
            NOTIFICATIONS.append((self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def serve(handler, port):
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def wait_for(what, check, timeout=60):
    """Polls `check` until it returns a true value; fails with `what` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last and not isinstance(last, str):
                return last
        except Exception as e:  # a server still starting
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last})")


def titles():
    """The Slack messages received: the receiver's path and the title, e.g.
    `/alert-hook [FIRING:1] QueueBacklog api (api:8080 warning)`."""
    with LOCK:
        return [f"{path} {a.get('title', '')}" for path, n in NOTIFICATIONS for a in n.get("attachments", [])]


def set_queue_depth(value):
    with LOCK:
        STATE["queue_depth"] = value


def prom(path):
    return get_json(f"http://127.0.0.1:9090{path}")


def check_targets_up():
    want = set(PLAN["jobs"])

    def all_up():
        result = prom("/api/v1/query?query=up")["data"]["result"]
        jobs = {r["metric"]["job"] for r in result}
        down = [r["metric"] for r in result if r["value"][1] != "1"]
        if jobs != want or down:
            return f"jobs {sorted(jobs)} (want {sorted(want)}), down {down}"
        return result

    result = wait_for("every target of every job is up == 1", all_up)
    active = prom("/api/v1/targets")["data"]["activeTargets"]
    assert len(active) == len(result), f"{len(active)} active targets, {len(result)} `up` series"
    for r in sorted(result, key=lambda r: r["metric"]["job"]):
        log(f"ok   up{{job={r['metric']['job']!r}, instance={r['metric']['instance']!r}}} == 1")
    probe = PLAN["probe"]
    with LOCK:
        asked = list(PROBES)
    assert {"target": [probe["url"]], "module": [probe["module"]]} in asked, f"blackbox asked {asked}"
    success = prom("/api/v1/query?query=" + urllib.parse.quote(f'probe_success{{instance="{probe["url"]}"}}'))
    values = [r["value"][1] for r in success["data"]["result"]]
    assert values == ["1"], f"probe_success of {probe['url']}: {values}"
    log(f"ok   the blackbox exporter was asked target={probe['url']} module={probe['module']}, probe_success 1")


def am_alert(name, severity):
    """The alert `name` of `severity` as Alertmanager's API shows it, or None."""
    for a in get_json("http://127.0.0.1:9093/api/v2/alerts"):
        if a["labels"].get("alertname") == name and a["labels"].get("severity") == severity:
            return a
    return None


def firing(severity):
    """The notifications about firing alerts of `severity` that reached the receiver the
    route of that severity names (the title ends with the labels the alerts share beyond the
    group's: `(api:8080 warning)`)."""
    a = PLAN["alerts"]
    start = f"{a[severity + '_path']} [FIRING"
    return [t for t in titles() if t.startswith(start) and f" {a['name']} " in t and t.endswith(f" {severity})")]


def check_alerts():
    a = PLAN["alerts"]
    name = a["name"]
    assert titles() == [], f"notifications before any condition: {titles()}"

    set_queue_depth(a["warning_value"])
    wait_for(f"the warning {name} reaches the receiver", lambda: firing("warning") or f"received {titles()}")
    assert firing("critical") == [], f"the critical sent too early: {titles()}"
    log(f"ok   {a['metric']} = {a['warning_value']}: the warning {name} fired and reached the receiver: {titles()}")
    before = len(firing("warning"))

    set_queue_depth(a["critical_value"])
    wait_for(f"the critical {name} reaches the receiver", lambda: firing("critical") or f"received {titles()}")

    def inhibited():
        w, c = am_alert(name, "warning"), am_alert(name, "critical")
        if not (w and c):
            return f"Alertmanager has warning {w}, critical {c}"
        if c["status"]["state"] != "active" or w["status"]["state"] != "suppressed" or not w["status"]["inhibitedBy"]:
            return f"critical: {c['status']}, warning: {w['status']}"
        return w

    w = wait_for(f"the warning {name} is inhibited while the critical fires", inhibited)
    log(f"ok   {a['metric']} = {a['critical_value']}: the critical {name} reached the receiver; the warning is "
        f"{w['status']['state']} (inhibited by {w['status']['inhibitedBy']})")
    # The warning still fires in Prometheus: only the inhibition keeps it from the receiver.
    rules = prom("/api/v1/alerts")["data"]["alerts"]
    severities = sorted(r["labels"]["severity"] for r in rules if r["labels"]["alertname"] == name and r["state"] == "firing")
    assert severities == ["critical", "warning"], rules
    time.sleep(3)  # three group intervals: time for a notification the inhibition must stop
    assert len(firing("warning")) == before, f"the warning was sent again while inhibited: {titles()}"
    last = titles()[-1]
    assert last.startswith(f"{a['critical_path']} [FIRING:1] ") and last.endswith(" critical)"), f"the last: {last}"
    log(f"ok   no notification of the warning while the critical fires (Prometheus fires both): {titles()}")


def start(argv, name):
    out = open(os.path.join(PLAN["dir"], f"{name}.log"), "w")
    # If this script is killed, the servers must not outlive it in the namespace.
    return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: ctypes.CDLL(None).prctl(1, signal.SIGKILL))


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def on_alarm(signum, frame):
    raise TimeoutError("the script ran for 150 s")


def main():
    for kind, inode in PLAN["outer_namespaces"].items():
        if os.stat(f"/proc/self/ns/{kind}").st_ino == inode:
            sys.exit(f"refusing to run outside a private {kind} namespace (run me with unshare -m -n)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    hosts = os.path.join(PLAN["dir"], "hosts")
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost " + " ".join(PLAN["hosts"]) + "\n")
    subprocess.run(["mount", "--bind", hosts, "/etc/hosts"], check=True)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(150)
    servers, procs = [], []
    try:
        for t in PLAN["targets"]:
            handler = type("Handler", (Metrics,), {"kind": t["kind"], "job": t["job"]})
            servers.append(serve(handler, t["port"]))
        servers.append(serve(Receiver, PLAN["receiver_port"]))
        procs.append(start(PLAN["alertmanager"], "alertmanager"))
        procs.append(start(PLAN["prometheus"], "prometheus"))
        wait_for("Alertmanager is ready", lambda: urllib.request.urlopen("http://127.0.0.1:9093/-/ready").status == 200)
        wait_for("Prometheus is ready", lambda: urllib.request.urlopen("http://127.0.0.1:9090/-/ready").status == 200)
        check_targets_up()
        check_alerts()
        log("PASS: the generated monitoring works end to end")
    except BaseException as e:
        log(f"FAIL: {type(e).__name__}: {e}")
        for name in ["prometheus", "alertmanager"]:
            path = os.path.join(PLAN["dir"], f"{name}.log")
            if os.path.exists(path):
                log(f"--- {name}.log (last lines)")
                log("".join(open(path).readlines()[-30:]))
        sys.exit(1)
    finally:
        signal.alarm(0)
        for p in procs:
            stop(p)
        for s in servers:
            s.shutdown()


main()
