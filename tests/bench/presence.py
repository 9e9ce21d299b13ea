#!/usr/bin/python3
"""tidings presence benchmark (issue 6): figures, not pass/fail.

See tests/bench/README.md ("Presence"). Starts real Dovecot, Prosody (with
XEP-0356 presence permission) and tidingsd in a temporary directory on free
loopback ports (tests/integration fixtures), and measures with
--storm-users N raw XMPP clients (tests/bench/rawxmpp.py, one asyncio loop):

1. login storm: each user has --mails mails delivered while offline; all
   log in within --storm-secs; time from initial presence to the summary,
   IMAP master logins per second at Dovecot, CPU and RSS;
2. memory per tracked user: tidingsd VmRSS before the storm, with N users
   online (optionally a second resource each), after they log out, and
   with them online again;
3. presence updates: the N clients flip <show/> as fast as Prosody takes
   it; tidingsd CPU per update, updates/s, messages that came back;
4. restart at scale: tidingsd stopped, the ledger filled to --known
   mailboxes (only the N real ones exist in Dovecot), one mail delivered to
   each online user meanwhile, tidingsd started with the N clients online:
   time to ready, IMAP logins, notifications, CPU and RSS.

Every wait is bounded, everything binds 127.0.0.1, and every process
started here is stopped on exit. Helpers (sampling, logs, LMTP, ledger) are
in presence_tools.py.
"""

import argparse
import asyncio
import functools
import json
import os
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import rawxmpp  # noqa: E402
from bench import (build_options, proc_cpu_secs,  # noqa: E402
                   proc_mem_kb, summary_ms)
from presence_tools import (DOMAIN, Monitor, busiest,  # noqa: E402
                            deliver_all, fill_ledger, fmt_cpu,
                            last_stats, ledger_counts, roster_contacts,
                            tidings_log_time, tidings_log_users)

# The flood's cycle; None: available (no <show/>). dnd -> available is
# coming back from a held presence with nothing held.
SHOWS = ("away", "dnd", None, "xa")
# tidingsd's info line for each summary it sends.
SUMMARY_SENT = re.compile(r"bridge\(([^)]*)\): sent a summary")


def fmt_ms(s, unit="ms"):
    if s.get("n", 0) == 0:
        return "no samples"
    if unit == "s":
        return ("p50 %6.2f  p90 %6.2f  p99 %6.2f  max %6.2f s  (n=%d)"
                % (s["p50"] / 1e3, s["p90"] / 1e3, s["p99"] / 1e3,
                   s["max"] / 1e3, s["n"]))
    return ("p50 %7.1f  p90 %7.1f  p99 %7.1f  max %7.1f ms  (n=%d)"
            % (s["p50"], s["p90"], s["p99"], s["max"], s["n"]))


# Dovecot starts an imap-login and an imap process for every IMAP login
# by default (service_count = 1): about 60 ms of CPU per login on a small
# VM. --dovecot-reuse lets the processes serve many logins.
DOVECOT_REUSE = {
    "none": "",
    "login": "service imap-login {\n  service_count = 0\n}\n",
    "all": "service imap-login {\n  service_count = 0\n}\n"
           "service imap {\n  service_count = 1000\n}\n",
}


class PresenceStack:
    """tests/integration/stack.py's Stack with users u0000 ... (one
    password), tidingsd at log level --log-level (info; debug would log
    every presence and be measured as tidingsd CPU) and otherwise its
    defaults, except
    [mail] imap_workers when --imap-workers is given; Dovecot as the
    fixture sets it up, plus DOVECOT_REUSE[--dovecot-reuse]."""

    def __init__(self, work, args):
        from stack import Stack
        workers = args.imap_workers

        class _Stack(Stack):
            def config_sections(self):
                s = super().config_sections()
                if workers:
                    s["mail"]["imap_workers"] = str(workers)
                return s

        self.password = "bench-pw"
        local = ["u%04d" % i for i in range(args.storm_users)]
        self.stack = _Stack(os.path.join(work, "stack"), domain=DOMAIN,
                            users={u: self.password for u in local},
                            log={"level": args.log_level},
                            dovecot_conf=DOVECOT_REUSE[args.dovecot_reuse])
        self.users = [self.stack.addr(u) for u in local]

    def start(self):
        self.stack.start()

    def stop(self):
        self.stack.stop()


# ----- the runs -----

TIDINGS_KINDS = (rawxmpp.KIND_SINGLE, rawxmpp.KIND_DIGEST,
                 rawxmpp.KIND_SUMMARY)


class PresenceBench:
    def __init__(self, args, ps):
        self.args = args
        self.ps = ps
        self.st = ps.stack
        self.loop = asyncio.get_running_loop()
        self.mon = Monitor(self.st)
        self.rng = random.Random(args.seed)
        self.clients = []  # one per user (index = user), None if failed
        self.extra = []  # second resources
        self.token = None  # subject of the restart mail (bytes)
        self.hits = 0
        self.mem = {}
        # perf_counter() + clock = wall-clock time (tidingsd's log).
        self.clock = time.time() - time.perf_counter()
        self.res = {"config": {
            "storm_users": args.storm_users, "mails": args.mails,
            "storm_secs": args.storm_secs, "resources": args.resources,
            "flood_secs": args.flood_secs, "flood_window": args.flood_window,
            "known": args.known, "imap_workers": args.imap_workers or
            "default (2)", "dovecot_reuse": args.dovecot_reuse,
            "seed": args.seed, "cpus": os.cpu_count(),
            "loadavg_at_start": os.getloadavg(), "build": build_options(),
            "wrapper": os.environ.get("TIDINGS_WRAPPER", "")},
            "memory": self.mem}

    def log(self, msg):
        print(msg, flush=True)

    def td(self):
        return self.st.tidingsd

    def rss(self):
        return proc_mem_kb(self.td().pid).get("VmRSS")

    def prosody_rss(self):
        return proc_mem_kb(self.st.prosody.proc.pid).get("VmRSS")

    async def blocking(self, fn, *a, **kw):
        """Runs a blocking fixture call off the loop, so that clients keep
        reading (and timestamping) meanwhile."""
        return await self.loop.run_in_executor(
            None, functools.partial(fn, *a, **kw))

    # ----- clients -----

    def on_message(self, c, t, kind, uid, subject, count):
        c.kinds[kind] = c.kinds.get(kind, 0) + 1
        if kind == rawxmpp.KIND_SUMMARY and c.summary_t is None:
            c.summary_t = t
            c.summary_counts = c.last_summary
            self.hits += 1
        elif kind == rawxmpp.KIND_SINGLE and self.token is not None and \
                subject == self.token and c.token_t is None:
            c.token_t = t
            self.hits += 1

    async def login(self, i, resource="bench", timeout=60.0):
        """User i's client, logged in and bound; no presence yet."""
        t0 = time.perf_counter()
        c = await rawxmpp.RawClient.login(
            self.loop, "127.0.0.1", self.st.prosody.c2s_port,
            self.ps.users[i], self.ps.password, resource=resource,
            timeout=timeout, presence=False)
        c.idx, c.login_t0, c.bound_t = i, t0, time.perf_counter()
        c.summary_t = c.summary_counts = c.token_t = None
        c.kinds = {}
        c.on_message = self.on_message
        return c

    async def login_all(self, resource, concurrency=50, spread=0.0):
        """Every user's client, at most concurrency logging in at once,
        starts spread evenly over spread seconds; each sends its initial
        presence once bound. Returns (clients or None, errors)."""
        n = len(self.ps.users)
        sem = asyncio.Semaphore(concurrency)
        errors = []
        t_start = time.perf_counter() + 0.1

        async def one(i):
            await asyncio.sleep(max(0.0, t_start + i * spread / n -
                                    time.perf_counter()))
            async with sem:
                try:
                    c = await self.login(i, resource,
                                         self.args.login_timeout)
                except (rawxmpp.LoginError, OSError) as e:
                    errors.append(str(e))
                    return None
            c.send_presence()
            return c
        return await asyncio.gather(*(one(i) for i in range(n))), errors

    async def wait_hits(self, want, timeout):
        deadline = time.perf_counter() + timeout
        while self.hits < want and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        return self.hits >= want

    async def quiet(self, limit=30.0):
        """Waits until tidingsd used < 2% of a core over 0.5 s; returns
        when (perf_counter)."""
        deadline = time.perf_counter() + limit
        pid = self.td().pid
        while time.perf_counter() < deadline:
            c0, t0 = proc_cpu_secs(pid), time.perf_counter()
            await asyncio.sleep(0.5)
            if (proc_cpu_secs(pid) - c0) / (time.perf_counter() - t0) < 0.02:
                return t0
        return time.perf_counter()

    async def imap_quiet(self, still=3.0, limit=120.0):
        """Waits until Dovecot logged no IMAP login for still seconds."""
        deadline = time.perf_counter() + limit
        n, since = len(self.mon.dlog.users), time.perf_counter()
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.2)
            if len(self.mon.dlog.users) != n:
                n, since = len(self.mon.dlog.users), time.perf_counter()
            elif time.perf_counter() - since >= still:
                return

    def tidings_messages(self, clients):
        return sum(c.kinds.get(k, 0) for c in clients if c
                   for k in TIDINGS_KINDS)

    def other_messages(self, clients):
        return sum(c.kinds.get(rawxmpp.KIND_OTHER, 0) for c in clients if c)

    def close_all(self):
        for c in self.clients + self.extra:
            if c is not None:
                c.close()
        self.clients, self.extra = [], []

    # ----- 0: ready, mail while offline -----

    async def prepare(self):
        a = self.args
        await self.blocking(self.td().wait_log, "presence permission", 20.0)
        await asyncio.sleep(1.5)  # presence settles 1 s after it
        self.mem["after_start_kb"] = self.rss()
        self.mon.take()
        logins0 = len(self.mon.dlog.users)
        secs = await deliver_all(self.st.dovecot.lmtp_port, self.ps.users,
                                 ["storm-%d-%d" % (a.seed, j)
                                  for j in range(a.mails)])
        await self.quiet()
        # Users the events brought into memory are freed when idle (the
        # sweep runs every burst window, 10 s by default); IMAP scans the
        # events started (if any) end before the storm.
        await asyncio.sleep(a.idle_secs)
        await self.imap_quiet()
        self.mem["before_storm_kb"] = self.rss()
        self.mem["prosody_before_storm_kb"] = self.prosody_rss()
        setup_logins = len(self.mon.dlog.users) - logins0
        self.res["setup"] = {"delivery_secs": secs,
                             "imap_logins": setup_logins}
        self.log("setup: %d mails delivered to each of %d users (offline) "
                 "over LMTP in %.1f s; tidingsd did %d IMAP logins for "
                 "them (0 expected: offline); VmRSS %s kB after start, %s "
                 "kB before the storm"
                 % (a.mails, len(self.ps.users), secs, setup_logins,
                    self.mem["after_start_kb"], self.mem["before_storm_kb"]))

    # ----- 1: the storm -----

    def summary_figures(self, clients, want, since):
        """Latencies and count checks of the first summary per client;
        want = (unread, new). The latency is split at the time tidingsd
        logged the summary as sent (its log after byte since): presence
        -> sent is Prosody passing the presence on plus tidingsd's IMAP
        scan, sent -> read is Prosody delivering the message."""
        sent = tidings_log_users(self.td(), since, SUMMARY_SENT)
        f = {"lat": [], "to_sent": [], "to_read": [], "wrong": [],
             "within_10s": 0}
        for c in clients:
            if c is None or c.summary_t is None:
                continue
            d = c.summary_t - c.presence_t
            f["lat"].append(d)
            f["within_10s"] += d <= 10.0
            if tuple(c.summary_counts) != want:
                f["wrong"].append((c.jid, c.summary_counts))
            ts = sent.get(c.jid)
            if ts is not None:
                ts -= self.clock
                f["to_sent"].append(ts - c.presence_t)
                f["to_read"].append(c.summary_t - ts)
        return f

    async def wait_summaries(self, n):
        """Waits for n summaries up to --summary-wait; then, while tidingsd
        still logs into IMAP, for the rest (up to --settle-max). Returns
        (summaries within --summary-wait, seconds waited beyond)."""
        a = self.args
        await self.wait_hits(n, a.summary_wait)
        within = self.hits
        t = time.perf_counter()
        if self.hits < n:
            await self.imap_quiet(limit=a.settle_max)
            await self.wait_hits(n, 5.0)
        return within, time.perf_counter() - t

    async def run_storm(self):
        a = self.args
        n = len(self.ps.users)
        td = self.td()
        hwm0 = proc_mem_kb(td.pid).get("VmHWM")
        self.hits = 0
        since = td.log_size()
        t0 = time.perf_counter()
        clients, errors = await self.login_all(
            "bench", a.storm_concurrency, a.storm_secs)
        self.clients = clients
        ok = [c for c in clients if c is not None]
        t_logged = time.perf_counter()
        within, extra = await self.wait_summaries(len(ok))
        t_sum = max([c.summary_t for c in ok if c.summary_t] or [t_logged])
        await asyncio.sleep(1.0)
        w = self.mon.window(t0, t_sum)
        f = self.summary_figures(ok, (a.mails, a.mails), since)
        lat, wrong = f["lat"], f["wrong"]
        logins = [c.presence_t - c.login_t0 for c in ok]
        self.mem["storm_online_kb"] = self.rss()
        self.mem["prosody_storm_online_kb"] = self.prosody_rss()
        hwm1 = proc_mem_kb(td.pid).get("VmHWM")
        r = {"users": n, "logged_in": len(ok), "login_errors": len(errors),
             "login_error_example": errors[:3],
             "logins_secs": t_logged - t0,
             "login_ms": summary_ms(logins),
             "presence_to_summary_ms": summary_ms(lat),
             "presence_to_sent_ms": summary_ms(f["to_sent"]),
             "sent_to_read_ms": summary_ms(f["to_read"]),
             "summaries": len(lat), "summaries_within_10s": f["within_10s"],
             "summaries_within_wait": within, "waited_beyond_secs": extra,
             "wrong_counts": len(wrong), "wrong_examples": wrong[:5],
             "tidings_messages": self.tidings_messages(ok),
             "other_messages": self.other_messages(ok),
             "window": w, "tidingsd_vmhwm_kb": [hwm0, hwm1],
             "mail_contact_in_rosters": roster_contacts(self.st.prosody.dir)}
        self.res["storm"] = r
        self.log("\n1. Login storm: %d users, %d mails each delivered while "
                 "offline, logins spread over %s s (at most %d at once)"
                 % (n, a.mails, a.storm_secs, a.storm_concurrency))
        self.log("   logged in %d (%d failed%s) in %.1f s; connect -> "
                 "presence sent: %s" % (
                     len(ok), len(errors), ", e.g. %s" % errors[0]
                     if errors else "", t_logged - t0,
                     fmt_ms(r["login_ms"])))
        self.log("   initial presence -> summary: " +
                 fmt_ms(r["presence_to_summary_ms"]))
        self.log("     presence -> tidingsd sent it (its log): " +
                 fmt_ms(r["presence_to_sent_ms"]))
        self.log("     tidingsd sent it -> client read it:     " +
                 fmt_ms(r["sent_to_read_ms"]))
        self.log("   summaries: %d within 10 s of the user's presence, %d "
                 "within %d s of the last login, %d in total of %d (after "
                 "waiting %.0f s more while tidingsd was still scanning)"
                 % (r["summaries_within_10s"], within, a.summary_wait,
                    len(lat), len(ok), extra))
        self.log("   counts: %d right (unread %d, new %d), %d wrong%s"
                 % (len(lat) - len(wrong), a.mails, a.mails, len(wrong),
                    " e.g. %s" % (wrong[:3],) if wrong else ""))
        self.log("   messages: %d from tidings (1 summary each expected), "
                 "%d others (Prosody's mod_privilege sends each session an "
                 "empty <privilege/> message)"
                 % (r["tidings_messages"], r["other_messages"]))
        self.log("   IMAP master logins at Dovecot: %d in %.1f s = %.0f/s, "
                 "peak %.0f/s over 1 s (users came online at %s/s; "
                 "tidingsd imap_workers %s, --dovecot-reuse %s)"
                 % (w.get("logins", 0), w.get("login_secs") or 0,
                    w.get("logins_per_sec") or 0,
                    w.get("logins_per_sec_peak_1s") or 0,
                    "%.0f" % (n / a.storm_secs) if a.storm_secs else "any",
                    self.res["config"]["imap_workers"],
                    a.dovecot_reuse))
        self.log("   CPU, first login .. last summary (%.1f s): %s"
                 % (w["secs"], fmt_cpu(w)))
        self.log("   busiest: %s; the Mail contact is in %d rosters"
                 % (busiest(w), r["mail_contact_in_rosters"]))
        self.log("   tidingsd VmRSS %s -> %s kB (peak sampled %s kB), VmHWM "
                 "%s -> %s kB" % (self.mem["before_storm_kb"],
                                  self.mem["storm_online_kb"],
                                  w.get("tidingsd_rss_kb_peak"), hwm0, hwm1))

    # ----- 2: memory, second resources -----

    async def run_second_resources(self):
        n = len(self.ps.users)
        self.hits = 0
        extra, errors = await self.login_all("second", 50)
        self.extra = extra
        await asyncio.sleep(2.0)
        await self.quiet()
        self.mem["second_resources_kb"] = self.rss()
        ok = [c for c in extra if c is not None]
        self.mem["second_resources"] = {
            "logged_in": len(ok), "errors": len(errors),
            "tidings_messages_on_them": self.tidings_messages(ok)}
        self.log("\n2b. A second resource for each user: %d logged in; "
                 "tidingsd VmRSS %s -> %s kB = %.0f bytes per resource; %d "
                 "messages from tidings on them (0 expected: not coming "
                 "online)" % (len(ok), self.mem["storm_online_kb"],
                              self.mem["second_resources_kb"],
                              (self.mem["second_resources_kb"] -
                               self.mem["storm_online_kb"]) * 1024.0 / n,
                              self.tidings_messages(ok)))

    async def logout_all(self):
        self.close_all()
        await asyncio.sleep(1.0)
        await self.quiet()
        # Offline users are freed by the idle sweep (every burst window).
        await asyncio.sleep(self.args.idle_secs)
        self.mem["after_logout_kb"] = self.rss()

    # ----- 3: presence updates -----

    async def run_flood(self):
        a = self.args
        cs = [c for c in self.clients if c is not None and not c.closed]
        w_size = a.flood_window
        t_end = None
        last_echo = [0.0]
        tid0 = self.tidings_messages(cs)
        oth0 = self.other_messages(cs)

        def pump(c):
            while c.fsent - c.marker_count < w_size and \
                    time.perf_counter() < t_end:
                c.fsent += 1
                c.send_presence(show=SHOWS[(c.idx + c.fsent) % len(SHOWS)],
                                sid="bf%05d.%d" % (c.idx, c.fsent))

        def on_echo(c, t, n):
            last_echo[0] = t
            pump(c)

        for c in cs:
            c.fsent = 0
            c.marker_count = 0
            c.watch(b"'bf%05d." % c.idx)
            c.on_marker = on_echo
        await asyncio.sleep(0.5)
        t0 = time.perf_counter()
        t_end = t0 + a.flood_secs
        for c in cs:
            pump(c)
        await asyncio.sleep(a.flood_secs)
        deadline = time.perf_counter() + 30
        while sum(c.marker_count for c in cs) < sum(c.fsent for c in cs) \
                and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        sent = sum(c.fsent for c in cs)
        echoed = sum(c.marker_count for c in cs)
        t_quiet = await self.quiet()
        w = self.mon.window(t0, t_quiet)
        wall = last_echo[0] - t0
        await asyncio.sleep(2.0)  # anything tidings would send, arrives
        tid = self.tidings_messages(cs) - tid0
        oth = self.other_messages(cs) - oth0
        # Back to available for what follows.
        for c in cs:
            c.on_marker = None
            c.watch(None)
            c.send_presence()
        per = {k: 1e6 * v["secs"] / echoed if echoed else None
               for k, v in w.get("cpu", {}).items()}
        r = {"clients": len(cs), "sent": sent, "reflected": echoed,
             "wall_secs": wall, "updates_per_sec": echoed / wall
             if wall > 0 else None, "window": w,
             "cpu_us_per_update": per,
             "tidingsd_drain_secs": t_quiet - last_echo[0],
             "tidings_messages": tid, "other_messages": oth,
             "mail_contact_in_rosters": roster_contacts(self.st.prosody.dir)}
        self.res["flood"] = r
        self.log("\n3. Presence updates: %d clients cycling <show/> through "
                 "away, dnd, available, xa for %d s, at most %d unreflected "
                 "each" % (len(cs), a.flood_secs, w_size))
        self.log("   sent %d, reflected by Prosody %d, in %.2f s -> %.0f "
                 "updates/s" % (sent, echoed, wall,
                                r["updates_per_sec"] or 0))
        for k, v in w.get("cpu", {}).items():
            self.log("   %-8s CPU %6.2f s = %6.1f us/update; %3.0f%% of a "
                     "core on average, peak %3.0f%% over 1 s"
                     % (k, v["secs"], per[k] or 0, v["avg_pct"],
                        v["peak_pct"]))
        self.log("   (window: first update .. tidingsd quiet, %.2f s; "
                 "tidingsd was quiet %.2f s after the last reflection)"
                 % (w["secs"], r["tidingsd_drain_secs"]))
        self.log("   busiest: %s. The Mail contact is in %d rosters "
                 "(subscription both): tidingsd gets each update as the "
                 "roster broadcast and as the XEP-0356 copy"
                 % (busiest(w), r["mail_contact_in_rosters"]))
        self.log("   messages received during the flood and 2 s after: %d "
                 "from tidings (0 expected: nothing was held), %d others"
                 % (tid, oth))

    # ----- 2 (cont.): online again -----

    async def run_relogin(self):
        a = self.args
        n = len(self.ps.users)
        self.hits = 0
        since = self.td().log_size()
        t0 = time.perf_counter()
        clients, errors = await self.login_all("bench", 50)
        self.clients = clients
        ok = [c for c in clients if c is not None]
        within, extra = await self.wait_summaries(len(ok))
        await asyncio.sleep(1.0)
        await self.quiet()
        self.mem["online_again_kb"] = self.rss()
        f = self.summary_figures(ok, (a.mails, 0), since)
        lat, wrong = f["lat"], f["wrong"]
        self.res["online_again"] = {
            "logged_in": len(ok), "errors": len(errors),
            "secs": time.perf_counter() - t0,
            "presence_to_summary_ms": summary_ms(lat),
            "presence_to_sent_ms": summary_ms(f["to_sent"]),
            "sent_to_read_ms": summary_ms(f["to_read"]),
            "summaries": len(lat), "summaries_within_wait": within,
            "wrong_counts": len(wrong), "wrong_examples": wrong[:5]}
        m = self.mem
        self.log("\n2. Memory per tracked user (tidingsd VmRSS)")
        self.log("   after start, presence settled:  %7s kB" %
                 m["after_start_kb"])
        self.log("   before the storm:               %7s kB" %
                 m["before_storm_kb"])
        self.log("   %d users online (storm):      %7s kB  -> %.0f bytes "
                 "per user" % (n, m["storm_online_kb"],
                               (m["storm_online_kb"] - m["before_storm_kb"])
                               * 1024.0 / n))
        if "second_resources_kb" in m:
            self.log("   + a second resource each:       %7s kB" %
                     m["second_resources_kb"])
        self.log("   all logged out (+%d s idle):    %7s kB  (%.0f bytes "
                 "per user not given back to the system)"
                 % (a.idle_secs, m["after_logout_kb"],
                    (m["after_logout_kb"] - m["before_storm_kb"]) * 1024.0
                    / n))
        self.log("   %d online again:              %7s kB  -> %.0f bytes "
                 "per user over logged out" % (
                     len(ok), m["online_again_kb"],
                     (m["online_again_kb"] - m["after_logout_kb"]) * 1024.0
                     / n))
        self.log("   Prosody VmRSS %s kB before the storm, %s kB with %d "
                 "c2s sessions" % (m["prosody_before_storm_kb"],
                                   m["prosody_storm_online_kb"], n))
        self.log("   (online again: initial presence -> summary %s; %d of "
                 "%d summaries, %d with counts other than unread %d, new 0)"
                 % (fmt_ms(summary_ms(lat)), len(lat), len(ok), len(wrong),
                    a.mails))

    # ----- 4: restart at scale -----

    async def run_restart(self):
        a = self.args
        td = self.td()
        cs = [c for c in self.clients if c is not None and not c.closed]
        real = set(self.ps.users)
        off = td.log_size()
        await self.blocking(td.stop)
        stats_before = last_stats(td, off)
        self.token = ("restart-%d" % a.seed).encode()
        dsecs = await deliver_all(self.st.dovecot.lmtp_port,
                                  [self.ps.users[c.idx] for c in cs],
                                  [self.token.decode()])
        db = os.path.join(self.st.dir, "state", "tidings.db")
        rows_before, rows_filled, fill_secs = fill_ledger(db, a.known,
                                                          self.rng)
        for c in cs:
            c.token_t = None
        k0 = {k: self.tidings_messages([c]) for k, c in enumerate(cs)}
        self.hits = 0
        self.mon.take()
        base = len(self.mon.dlog.users)
        fail0 = self.mon.dlog.failures
        wall0, t0 = time.time(), time.perf_counter()
        offset = await self.blocking(td.start, wait_connected=False,
                                     timeout=60.0)
        t_end = t0 + a.restart_watch
        while time.perf_counter() < t_end:
            await asyncio.sleep(0.1)
        self.mon.take()
        w = self.mon.window(t0, t_end)
        mem = proc_mem_kb(td.pid)
        rows_after, due_after = ledger_counts(db)
        # When the online users' logins were all there.
        users = self.mon.dlog.users
        seen, t_scanned, i = set(), None, base
        for s in self.mon.samples:
            if s[0] < t0:
                continue
            while i < s[3]:
                if users[i] in real:
                    seen.add(users[i])
                i += 1
            if len(seen) >= len(cs):
                t_scanned = s[0] - t0
                break
        logins = users[base:]
        n_real = sum(1 for u in logins if u in real)
        lat = [c.token_t - t0 for c in cs if c.token_t is not None]
        # tidingsd's CPU until the last notification, and after it.
        t_caught = max(c.token_t for c in cs) if len(lat) == len(cs) and \
            cs else None
        w_catch = self.mon.window(t0, t_caught) if t_caught else {}
        td_cpu = [w_catch.get("cpu", {}).get("tidingsd", {}).get("secs"),
                  None]
        if td_cpu[0] is not None and "tidingsd" in w["cpu"]:
            td_cpu[1] = w["cpu"]["tidingsd"]["secs"] - td_cpu[0]
        extra = sum(self.tidings_messages([c]) - k0[k] for k, c in
                    enumerate(cs)) - len(lat)

        def since(needle):
            t = tidings_log_time(td, needle, offset)
            return t - wall0 if t is not None else None
        off2 = td.log_size()
        await self.blocking(td.stop)
        stats_after = last_stats(td, off2)
        r = {"known": rows_filled, "real": len(real), "online": len(cs),
             "ledger_rows_before_fill": rows_before,
             "fill_secs": fill_secs, "delivery_secs": dsecs,
             "listening_secs": since("events: listening"),
             "connected_secs": since("xmpp: connected"),
             "presence_permission_secs": since("presence permission"),
             "online_users_scanned_secs": t_scanned,
             "imap_logins": len(logins), "imap_logins_online_users": n_real,
             "imap_logins_others": len(logins) - n_real,
             "imap_login_failures": self.mon.dlog.failures - fail0,
             "notified": len(lat),
             "notification_secs": summary_ms(lat),
             "other_tidings_messages": extra,
             "window": w, "tidingsd_cpu_secs_catch_up": td_cpu[0],
             "tidingsd_cpu_secs_after": td_cpu[1],
             "tidingsd_vmrss_kb_end": mem.get("VmRSS"),
             "tidingsd_vmhwm_kb": mem.get("VmHWM"),
             "ledger_rows_after": rows_after,
             "ledger_due_after": due_after,
             "stats_at_stop_before": stats_before,
             "stats_at_stop_after": stats_after}
        self.res["restart"] = r
        ls = r["notification_secs"]
        self.log("\n4. Restart with %d known mailboxes in the ledger (%d "
                 "real, %d of them online; the rest ledger-only), 1 mail "
                 "delivered to each online user while tidingsd was down"
                 % (rows_filled, len(real), len(cs)))
        self.log("   before the stop tidingsd said: online users %s; ledger "
                 "filled from %d rows in %.1f s"
                 % (stats_before.get("online users"), rows_before, fill_secs))
        self.log("   after start: events socket %s s, component connected "
                 "%s s, presence permission %s s (settled 1 s later)"
                 % tuple("%.3f" % x if x is not None else "?" for x in (
                     r["listening_secs"], r["connected_secs"],
                     r["presence_permission_secs"])))
        self.log("   IMAP logins in the first %d s: %d (%d of online users, "
                 "%d others, %d failed); %s"
                 % (a.restart_watch, len(logins), n_real,
                    len(logins) - n_real, r["imap_login_failures"],
                    "every online user's mailbox logged into after %.2f s"
                    % t_scanned if t_scanned is not None else
                    "not every online user's mailbox logged into yet"))
        self.log("   notifications of the mail: %d of %d; after tidingsd's "
                 "start: %s; %d other messages from tidings"
                 % (len(lat), len(cs), fmt_ms(ls, "s"), extra))
        self.log("   CPU in the %d s: %s" % (a.restart_watch, fmt_cpu(w)))
        if td_cpu[0] is not None and td_cpu[1] is not None:
            self.log("   tidingsd CPU until the last notification %.2f s "
                     "(%.2f ms per online user), in the %.0f s after it "
                     "%.2f s" % (td_cpu[0], 1e3 * td_cpu[0] / len(cs),
                                 t_end - t_caught, td_cpu[1]))
        self.log("   tidingsd VmRSS peak sampled %s kB, at the end %s kB, "
                 "VmHWM %s kB" % (w.get("tidingsd_rss_kb_peak"),
                                  mem.get("VmRSS"), mem.get("VmHWM")))
        self.log("   ledger: %d mailbox rows after (%d before the start: "
                 "none forgotten means no offline user was scanned), %d "
                 "still due" % (rows_after, rows_filled, due_after))
        self.log("   tidingsd's stats at the stop after: reconciliations "
                 "%s, summaries %s, online users %s"
                 % (stats_after.get("reconciliations"),
                    stats_after.get("summaries"),
                    stats_after.get("online users")))


def summary_rows(res):
    """(figure, value) rows of the headline figures in res."""
    rows = []

    def pq(d, unit=1e3):
        return "%.2f / %.2f s" % (d["p50"] / unit, d["p99"] / unit) \
            if d.get("n") else "-"
    st, m = res.get("storm"), res.get("memory", {})
    if st:
        w = st["window"]
        rows += [
            ("storm: presence -> summary p50 / p99",
             pq(st["presence_to_summary_ms"])),
            ("storm: summaries within 10 s / in all / users",
             "%d / %d / %d" % (st["summaries_within_10s"], st["summaries"],
                               st["logged_in"])),
            ("storm: summaries with wrong counts", str(st["wrong_counts"])),
            ("storm: IMAP logins/s, average / peak 1 s",
             "%.0f / %.0f" % (w.get("logins_per_sec") or 0,
                              w.get("logins_per_sec_peak_1s") or 0)),
            ("storm: CPU s tidingsd / prosody / dovecot",
             " / ".join("%.2f" % w["cpu"][k]["secs"] if k in w["cpu"]
                        else "-" for k in ("tidingsd", "prosody",
                                           "dovecot"))),
            ("storm: busiest process", str(busiest(w)))]
    if "storm_online_kb" in m:
        n = st["users"] if st else 1
        rows.append(("tidingsd VmRSS before / online / logged out (kB)",
                     "%s / %s / %s" % (m["before_storm_kb"],
                                       m["storm_online_kb"],
                                       m.get("after_logout_kb"))))
        rows.append(("memory per tracked user (bytes)", "%.0f" % (
            (m["storm_online_kb"] - m["before_storm_kb"]) * 1024.0 / n)))
    fl = res.get("flood")
    if fl:
        per = fl["cpu_us_per_update"]
        rows += [("flood: updates/s", "%.0f" % (fl["updates_per_sec"] or 0)),
                 ("flood: CPU us/update tidingsd / prosody",
                  "%.1f / %.1f" % (per.get("tidingsd") or 0,
                                   per.get("prosody") or 0)),
                 ("flood: busiest process", str(busiest(fl["window"]))),
                 ("flood: messages from tidings", str(fl["tidings_messages"]))]
    rs = res.get("restart")
    if rs:
        rows += [
            ("restart: component connected after",
             "%.3f s" % rs["connected_secs"] if rs["connected_secs"]
             is not None else "-"),
            ("restart: IMAP logins (online users / others)",
             "%d / %d" % (rs["imap_logins_online_users"],
                          rs["imap_logins_others"])),
            ("restart: online users all scanned after",
             "%.2f s" % rs["online_users_scanned_secs"]
             if rs["online_users_scanned_secs"] is not None else "no"),
            ("restart: notifications p50 / p99 (got / online)",
             "%s (%d / %d)" % (pq(rs["notification_secs"]), rs["notified"],
                               rs["online"])),
            ("restart: tidingsd CPU s / VmHWM kB",
             "%.2f / %s" % (rs["window"]["cpu"].get("tidingsd", {}).get(
                 "secs", 0), rs["tidingsd_vmhwm_kb"])),
            ("restart: ledger rows kept", "%d of %d" % (
                rs["ledger_rows_after"], rs["known"]))]
    return rows


def print_summary(res):
    rows = summary_rows(res)
    if not rows:
        return
    width = max(len(k) for k, _ in rows)
    print("\nSummary")
    for k, v in rows:
        print("  %-*s  %s" % (width, k, v))


async def amain(args, ps):
    b = PresenceBench(args, ps)
    cfg = b.res["config"]
    if cfg["wrapper"] or cfg["build"].get("b_sanitize", "none") != "none" \
            or cfg["build"].get("buildtype") in ("debug", "plain"):
        b.log("WARNING: tidingsd runs %s (build %s): its figures are not "
              "representative" % (cfg["wrapper"] or "unwrapped",
                                  cfg["build"]))
    b.mon.start()
    try:
        await b.prepare()
        await b.run_storm()
        if args.resources == 2:
            await b.run_second_resources()
        await b.logout_all()
        await b.run_relogin()
        if "flood" not in args.skip:
            await b.run_flood()
        if "restart" not in args.skip:
            await b.run_restart()
    finally:
        await b.mon.stop()
        b.close_all()
    return b.res


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        want = hard
    if soft == resource.RLIM_INFINITY or soft >= want:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--storm-users", type=int, default=1000)
    p.add_argument("--mails", type=int, default=2,
                   help="mails per user delivered while offline")
    p.add_argument("--storm-secs", type=float, default=10.0,
                   help="logins spread evenly over this (0: at once)")
    p.add_argument("--storm-concurrency", type=int, default=100,
                   help="logins in progress at once, at most")
    p.add_argument("--resources", type=int, default=1, choices=(1, 2))
    p.add_argument("--flood-secs", type=int, default=10)
    p.add_argument("--flood-window", type=int, default=8,
                   help="presence updates per client not yet reflected")
    p.add_argument("--known", type=int, default=100000,
                   help="mailboxes in the ledger for the restart")
    p.add_argument("--restart-watch", type=int, default=60,
                   help="seconds observed after the restart")
    p.add_argument("--imap-workers", type=int, default=0,
                   help="tidingsd's [mail] imap_workers (0: its default)")
    p.add_argument("--dovecot-reuse", choices=sorted(DOVECOT_REUSE),
                   default="none", help="Dovecot processes serve many "
                   "logins: none (its default), login (imap-login), all "
                   "(imap-login and imap)")
    p.add_argument("--log-level", default="info",
                   choices=["error", "warn", "info", "debug"],
                   help="tidingsd's; debug (a diagnostic) costs CPU that "
                   "is measured as tidingsd's")
    p.add_argument("--summary-wait", type=int, default=60)
    p.add_argument("--settle-max", type=int, default=300,
                   help="then wait up to this long while tidingsd is "
                   "still scanning, before the next phase")
    p.add_argument("--login-timeout", type=float, default=60.0)
    p.add_argument("--idle-secs", type=int, default=12,
                   help="wait for tidingsd's idle sweep (burst window + 2)")
    p.add_argument("--skip", action="append", default=[],
                   choices=["flood", "restart"])
    p.add_argument("--json", metavar="FILE", help="also write the figures")
    p.add_argument("--dir", help="work here (kept) instead of a temp dir")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-secs", type=int, default=1800,
                   help="give up (and clean up) after this long")
    args = p.parse_args()
    if not 1 <= args.storm_users <= 9999 or args.mails < 1 or \
            args.known < args.storm_users or args.flood_window < 1:
        p.error("out-of-range count")
    if os.geteuid() != 0:
        sys.exit("run as root (Dovecot, Prosody and /proc of tidingsd)")
    # 1 socket per client here and in Prosody, plus Dovecot's processes.
    nofile = raise_nofile(4 * args.storm_users * args.resources + 1024)
    work = args.dir or tempfile.mkdtemp(prefix="tidings-presence-")
    os.makedirs(work, exist_ok=True)

    def give_up(signum, frame):
        raise SystemExit("presence bench: stopped by signal %d" % signum)
    signal.signal(signal.SIGTERM, give_up)
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(args.max_secs)
    ps = PresenceStack(work, args)
    t = time.perf_counter()
    try:
        ps.start()
        print("stack up in %.2f s (work dir %s, RLIMIT_NOFILE %s)"
              % (time.perf_counter() - t, work, nofile), flush=True)
        results = asyncio.run(amain(args, ps))
    finally:
        ps.stop()
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    print_summary(results)
    results["total_secs"] = time.perf_counter() - t
    results["loadavg_at_end"] = os.getloadavg()
    print("\ntotal %.1f s; load average at start %.2f, at end %.2f (other "
          "work on the machine skews every figure)"
          % (results["total_secs"], results["config"]["loadavg_at_start"][0],
             results["loadavg_at_end"][0]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
