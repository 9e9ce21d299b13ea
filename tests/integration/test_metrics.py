"""The metrics endpoint ([metrics] listen) against the real stack: real
Dovecot, Prosody and tidingsd, scraped over HTTP with urllib and read with
a strict parser (metricsutil.py)."""

import os
import socket
import subprocess
import threading
import time

import pytest

import tidingsd as td
from metricsutil import (BadExposition, get_metrics, parse_exposition,
                         scrape, value)
from procutil import free_port
from tidingsd import SLOW

NOTIFY_SINGLES = {"burst_max": 1000, "burst_window": "1s"}

# Every family without mail from chat, as samples: the man page's list.
EXPECTED = {
    "tidings_start_time_seconds", "tidings_xmpp_up",
    "tidings_xmpp_connects_total", "tidings_xmpp_disconnects_total",
    "tidings_xmpp_stanzas_in_total", "tidings_xmpp_stanzas_out_total",
    "tidings_xmpp_stanzas_dropped_total", "tidings_xmpp_outbox_stanzas",
    "tidings_events_received_total", "tidings_events_total",
    "tidings_events_dropped_total", "tidings_events_refused_total",
    "tidings_imap_busy_sessions", "tidings_imap_queued_jobs",
    "tidings_imap_failures_total", "tidings_notifications_total",
    "tidings_digest_mails_total", "tidings_duplicates_total",
    "tidings_unserved_mails_total", "tidings_reconciliations_total",
    "tidings_reconciliation_failures_total",
    "tidings_reconciliations_running", "tidings_users_in_memory",
    "tidings_users_tracked", "tidings_users_online", "tidings_ledger_bytes",
    "tidings_last_error_timestamp_seconds",
}
CHAT = {"tidings_chat_mail_requests_total", "tidings_chat_mails_total",
        "tidings_chat_mail_retries_total",
        "tidings_chat_mail_sent_copies_total"}


def metrics_stack(make_stack, listen=None, **kw):
    """A stack whose tidingsd serves metrics; returns (stack, port)."""
    st = make_stack(start_tidings=False, notify=NOTIFY_SINGLES, **kw)
    port = free_port()
    st.tidingsd.sections["metrics"] = {"listen": listen or str(port)}
    st.tidingsd.start()
    st.tidingsd.wait_log("metrics: serving http://", 5.0)
    return st, port


def wait_metric(port, predicate, timeout=10.0):
    """Scrape until predicate(samples) holds; return those samples."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        s = get_metrics(port)
        if predicate(s):
            return s
        if time.monotonic() > deadline:
            raise AssertionError("metrics never matched; last: %r" % s)
        time.sleep(0.1)


def test_scrape_counts_notifications_and_the_link(make_stack):
    st, port = metrics_stack(make_stack)
    bob = st.client("bob")
    before = get_metrics(port)
    assert {n for n, _ in before} == EXPECTED
    om = get_metrics(port, openmetrics=True)
    assert {n for n, _ in om} == EXPECTED
    assert value(before, "tidings_xmpp_up") == 1
    assert value(before, "tidings_xmpp_connects_total") >= 1
    started = value(before, "tidings_start_time_seconds")
    assert abs(started - time.time()) < 120
    assert value(before, "tidings_ledger_bytes") > 0

    st.mail("bob", subject="one")
    st.mail("bob", subject="two")
    for i in range(2):
        assert bob.wait_for_message(lambda n: n.mail is not None,
                                    10 * SLOW, start=i) is not None
    after = wait_metric(port, lambda s: value(
        s, "tidings_notifications_total", kind="single") >= value(
        before, "tidings_notifications_total", kind="single") + 2)
    assert value(after, "tidings_notifications_total", kind="single") == \
        value(before, "tidings_notifications_total", kind="single") + 2
    assert value(after, "tidings_events_total") > \
        value(before, "tidings_events_total")
    assert value(after, "tidings_events_received_total") >= \
        value(after, "tidings_events_total")
    assert value(after, "tidings_xmpp_stanzas_out_total") > \
        value(before, "tidings_xmpp_stanzas_out_total")
    assert value(after, "tidings_users_online") >= 1
    assert value(after, "tidings_xmpp_up") == 1

    # Prosody goes away: the gauge says so, counters stay.
    st.prosody.stop()
    down = wait_metric(port, lambda s: value(s, "tidings_xmpp_up") == 0)
    assert value(down, "tidings_xmpp_disconnects_total") >= 1
    assert value(down, "tidings_notifications_total", kind="single") == \
        value(after, "tidings_notifications_total", kind="single")
    st.prosody.start()
    wait_metric(port, lambda s: value(s, "tidings_xmpp_up") == 1, 30.0)


def test_http_answers(make_stack):
    st, port = metrics_stack(make_stack)
    status, headers, body = scrape(port, "/other")
    assert status == 404
    status, headers, body = scrape(port, "/")
    assert status == 404
    status, headers, body = scrape(port, data=b"x=1", method="POST")
    assert status == 405
    assert headers.get("Allow") == "GET, HEAD"
    status, headers, body = scrape(port, method="PUT", data=b"")
    assert status == 405
    status, headers, body = scrape(port, method="HEAD")
    assert status == 200 and body == ""
    assert int(headers.get("Content-Length")) > 1000
    # Only a GET of /metrics has the numbers; a query string is ignored.
    status, headers, body = scrape(port, "/metrics?debug=1")
    assert status == 200
    parse_exposition(body, openmetrics=False)
    # Explicitly OpenMetrics, or not.
    status, headers, body = scrape(port, accept="application/"
                                   "openmetrics-text")
    assert body.endswith("# EOF\n")
    status, headers, body = scrape(port, accept="*/*")
    assert "# EOF" not in body
    with pytest.raises(BadExposition):
        parse_exposition(body, openmetrics=True)


def listening_on(port):
    """The local addresses (hex, as /proc/net/tcp{,6} write them) of the
    sockets listening on port."""
    found = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                addr, hport = fields[1].rsplit(":", 1)
                if int(hport, 16) == port and fields[3] == "0A":
                    found.append(addr)
    return found


def other_local_addresses():
    """This machine's IPv4 addresses outside 127/8, if it has any."""
    r = subprocess.run(["ip", "-o", "-4", "addr", "show"],
                       capture_output=True, text=True)
    out = []
    for line in r.stdout.splitlines():
        a = line.split()[3].split("/")[0]
        if not a.startswith("127."):
            out.append(a)
    return out


def refused(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return False
    except OSError:
        return True


def test_port_alone_binds_only_loopback(make_stack):
    st, port = metrics_stack(make_stack)
    assert listening_on(port) == ["0100007F"]  # 127.0.0.1, nothing else
    # 127.0.0.2 reaches this machine too, but nothing listens there.
    assert refused("127.0.0.2", port)
    others = other_local_addresses()
    for a in others:
        assert refused(a, port), a
    print("\nchecked 127.0.0.2 and %s" % (others or "no other address"))
    get_metrics(port)


def test_ipv6_address(make_stack):
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    port = free_port()
    st, _ = metrics_stack(make_stack, listen="[::1]:%d" % port)
    samples = get_metrics(port, host="::1")
    assert value(samples, "tidings_xmpp_up") == 1
    assert refused("127.0.0.1", port)
    assert listening_on(port) == ["00000000000000000000000001000000"]


def test_fifty_concurrent_scrapes(make_stack):
    """50 at once: more than the 16 connections (8 per address) it takes.
    Those turned away are closed at once, never answered with garbage;
    each retries and all get the full text; mail is notified meanwhile."""
    st, port = metrics_stack(make_stack)
    bob = st.client("bob")
    barrier = threading.Barrier(50)
    results, turned_away = [], []
    lock = threading.Lock()

    def one():
        barrier.wait()
        away = 0
        deadline = time.monotonic() + 30 * SLOW
        while True:
            try:
                s = get_metrics(port, openmetrics=True)
                break
            except OSError:  # closed or reset: turned away
                away += 1
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        with lock:
            results.append(s)
            turned_away.append(away)

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    st.mail("bob", subject="during the scrapes")
    for t in threads:
        t.join(60 * SLOW)
    assert len(results) == 50
    assert all({n for n, _ in s} == EXPECTED for s in results)
    assert bob.wait_for_message(lambda n: n.mail is not None,
                                10 * SLOW) is not None
    print("\n50 concurrent scrapes: %d turned away at first (%d retries)"
          % (sum(1 for a in turned_away if a), sum(turned_away)))
    assert value(get_metrics(port), "tidings_xmpp_up") == 1


def test_stop_with_a_scrape_in_flight(make_stack):
    st, port = metrics_stack(make_stack)
    t = st.tidingsd
    # One connection with half a request, one scraping in a loop.
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    stop = threading.Event()
    scrapes = []

    def scraper():
        while not stop.is_set():
            try:
                scrapes.append(scrape(port, timeout=5)[0])
            except OSError:
                scrapes.append("closed")
                return

    th = threading.Thread(target=scraper)
    th.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    rc = t.stop()
    took = time.monotonic() - t0
    stop.set()
    th.join(10)
    half.close()
    print("\nstopped in %.0f ms after %d scrapes" % (took * 1000,
                                                     len(scrapes)))
    assert rc == 0, t.tail()
    assert took < 5 * SLOW
    assert 200 in scrapes
    assert "the loop still had handles" not in t.log()
    assert refused("127.0.0.1", port)


def test_taken_port_is_a_start_error(make_stack, tmpdir_short):
    st = make_stack(start_tidings=False)
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        sections = st.config_sections()
        sections["metrics"] = {"listen": str(port)}
        path = td.write_config(os.path.join(tmpdir_short, "m.conf"),
                               sections)
        p = subprocess.run(td.wrapper() + [td.binary(), "-c", path],
                           capture_output=True, text=True,
                           timeout=20 * SLOW)
    assert p.returncode == 1, p.stderr
    assert ("error: metrics: cannot listen on 127.0.0.1:%d: " % port) in \
        p.stderr, p.stderr
    assert "Address already in use" in p.stderr
    assert "the loop still had handles" not in p.stderr


def test_bad_listen_is_a_config_error(tmpdir_short, make_stack):
    st = make_stack(start_tidings=False)
    sections = st.config_sections()
    sections["metrics"] = {"listen": "localhost:9100"}
    path = td.write_config(os.path.join(tmpdir_short, "bad.conf"), sections)
    r = td.check_config(path)
    assert r.returncode == 1
    lines = open(path).read().splitlines()
    line = lines.index("listen = localhost:9100") + 1
    assert "%s:%d: [metrics] listen: 'localhost:9100': not a numeric" % (
        path, line) in r.stdout + r.stderr
