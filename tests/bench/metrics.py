#!/usr/bin/python3
"""What the metrics endpoint costs: scrape latency and tidingsd's memory.

Starts the real stack (tests/integration/stack.py: Dovecot, Prosody,
tidingsd) with USERS users online, delivers one mail to each (so the
router and presence hold some state), then:

1. RSS: tidingsd's VmRSS and thread count with [metrics] listen unset, then
   with it set (tidingsd restarted on the same state), each after the same
   warm-up, and again after the scrapes;
2. latency: N scrapes one after another, each on a new connection (as
   urllib does), then N on one kept-alive connection (as Prometheus
   does): p50, p99 and max in milliseconds, from the request to the last
   byte of the body.

Run as root after a build (debugoptimized or release; a sanitizer build
makes the figures meaningless):
    /usr/bin/python3 tests/bench/metrics.py [--scrapes N] [--users N]
"""

import argparse
import http.client
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from bench import proc_mem_kb  # noqa: E402
from metricsutil import get_metrics, parse_exposition, scrape  # noqa: E402
from procutil import free_port  # noqa: E402
from stack import Stack  # noqa: E402


def threads_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def summary(ms):
    return "p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (
        pct(ms, 50), pct(ms, 99), max(ms))


def warm_up(st, users, clients, nth):
    """One mail per user, each notified (the nth notification of each
    client, from 0); then a second to settle."""
    for u in users:
        st.mail(u, subject="warm-up")
    for c in clients:
        if c.wait_for_message(lambda n: n.mail is not None, 20,
                              start=nth) is None:
            raise SystemExit("a warm-up notification did not arrive")
    time.sleep(1.0)


def memory(st, label):
    pid = st.tidingsd.pid
    m = proc_mem_kb(pid)
    return {"label": label, "rss_kb": m.get("VmRSS", 0),
            "hwm_kb": m.get("VmHWM", 0), "threads": threads_of(pid)}


def scrapes_new_connection(port, n):
    ms = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, _, body = scrape(port)
        ms.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise SystemExit("scrape: HTTP %d" % status)
    parse_exposition(body, openmetrics=False)
    return ms


def scrapes_keep_alive(port, n):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ms = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", "/metrics",
                     headers={"Accept": "application/openmetrics-text"})
        r = conn.getresponse()
        body = r.read()
        ms.append((time.perf_counter() - t0) * 1000)
        if r.status != 200:
            raise SystemExit("scrape: HTTP %d" % r.status)
    conn.close()
    parse_exposition(body.decode(), openmetrics=True)
    return ms, len(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scrapes", type=int, default=1000)
    ap.add_argument("--users", type=int, default=20)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("runs Dovecot and Prosody privately: run as root")

    users = ["u%03d" % i for i in range(args.users)]
    d = tempfile.mkdtemp(prefix="tdm-", dir="/tmp")
    st = Stack(d, users={u: "pw-" + u for u in users},
               notify={"burst_max": 1000, "burst_window": "1s"},
               log={"level": "info"})
    st.start()
    try:
        clients = [st.client(u) for u in users]
        warm_up(st, users, clients, 0)
        off = memory(st, "metrics off")

        port = free_port()
        st.tidingsd.sections["metrics"] = {"listen": str(port)}
        st.restart_tidingsd()
        st.tidingsd.wait_log("metrics: serving", 5.0)
        warm_up(st, users, clients, 1)
        on = memory(st, "metrics on, before scraping")
        s = get_metrics(port)
        new_ms = scrapes_new_connection(port, args.scrapes)
        ka_ms, size = scrapes_keep_alive(port, args.scrapes)
        after = memory(st, "metrics on, after %d scrapes" %
                       (2 * args.scrapes + 1))
    finally:
        rc = st.stop()
    print("tidingsd with %d users online, %d families, %d samples, "
          "%d bytes of OpenMetrics per scrape" % (
              args.users, len({n for n, _ in s}), len(s), size))
    print("scrape latency over %d scrapes:" % args.scrapes)
    print("  new connection each: %s" % summary(new_ms))
    print("  one kept-alive conn: %s" % summary(ka_ms))
    for m in (off, on, after):
        print("%-34s VmRSS %6d kB  VmHWM %6d kB  threads %d" % (
            m["label"] + ":", m["rss_kb"], m["hwm_kb"], m["threads"]))
    print("metrics on - off: VmRSS %+d kB, threads %+d" % (
        on["rss_kb"] - off["rss_kb"], on["threads"] - off["threads"]))
    print("tidingsd exit code %s" % rc)


if __name__ == "__main__":
    main()
