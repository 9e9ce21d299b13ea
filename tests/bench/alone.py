#!/usr/bin/python3
"""tidingsd alone: its own ceiling and its memory, without an XMPP server.

tests/bench/bench.py measures the whole stack, where Prosody is the
bottleneck. This one runs tidingsd against tests/bench/sink.py, a minimal
component peer that answers every ping at once and only counts messages,
with the same ledger as in production (SQLite WAL, every notification
committed before it is sent), and prints:

1. throughput: N MessageNew datagrams for --users users written into the
   event socket as fast as it takes them -> notifications/s (first write to
   the last message counted by the sink), tidingsd CPU per notification
   (all its threads, /proc schedstat) and the busiest 100 ms of one core;
2. unserved: VmRSS before and after 20,000 events for users tidingsd does
   not serve (each a different user of a foreign domain);
3. ledger: memory with 100,000 mailboxes in the ledger: tidingsd starts on a
   ledger holding that many rows, reconciles every one of them at start
   against a minimal IMAP peer (this file's FakeImap: an empty-handed
   Dovecot stand-in, for a benchmark only), and VmRSS/VmHWM are read when
   the last one is done, against the same with an empty ledger.

Run as root after a build (a release-ish one: debugoptimized or release):
    /usr/bin/python3 tests/bench/alone.py [--datagrams N] [--users N]
        [--mailboxes N] [--skip throughput|unserved|ledger] [--json FILE]
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import tidingsd as td  # noqa: E402
from bench import proc_cpu_secs, proc_mem_kb, CpuSampler  # noqa: E402
from sink import Sink  # noqa: E402

DOMAIN = "example.org"
COMPONENT = "mail.example.org"
SENDER = "bench-sender@example.net"


def datagram(user, uid, i, uidvalidity=1):
    """One MessageNew datagram in the push drivers' format."""
    subj = "alone-%06d" % i
    fields = [("v", 1), ("event", "MessageNew"), ("user", user),
              ("mailbox", "INBOX"), ("uidvalidity", uidvalidity),
              ("uid", uid), ("message_id", "<%s@bench.example.net>" % subj),
              ("from", "Bench Sender <%s>" % SENDER),
              ("from_address", SENDER), ("from_name", "Bench Sender"),
              ("to", "<%s>" % user), ("subject", subj),
              ("snippet", "Hello, this is benchmark mail number %d. A few "
               "words so that the snippet has something to show." % i),
              ("date", int(time.time())), ("tz", 0), ("flags", [])]
    return ("{" + ",".join("%s:%s" % (json.dumps(k), json.dumps(v))
                           for k, v in fields) + "}").encode()


async def send_all(path, grams):
    """Writes every datagram, waiting while the socket's queue is full."""
    loop = asyncio.get_running_loop()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.connect(path)
    s.setblocking(False)
    i = 0
    try:
        while i < len(grams):
            try:
                s.send(grams[i])
                i += 1
                continue
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                if e.errno != 105:  # ENOBUFS
                    raise
            fut = loop.create_future()
            loop.add_writer(s.fileno(),
                            lambda f=fut: f.done() or f.set_result(None))
            try:
                await asyncio.wait_for(fut, 0.05)
            except asyncio.TimeoutError:
                pass
            finally:
                loop.remove_writer(s.fileno())
    finally:
        s.close()


class FakeImap:
    """Answers the few commands a startup reconciliation sends, for every
    user: LOGIN ok, STATUS of an INBOX holding mail up to UID 5 (the rows'
    floor), EXAMINE, an empty UID SEARCH, LOGOUT. Counts STATUS answers."""

    def __init__(self):
        self.statuses = 0
        self.server = None
        self.port = None

    async def start(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader, writer):
        writer.write(b"* OK [CAPABILITY IMAP4rev1] fake ready\r\n")
        while True:
            line = await reader.readline()
            if not line:
                break
            parts = line.split(b" ", 2)
            tag = parts[0]
            cmd = parts[1].upper().strip() if len(parts) > 1 else b""
            if cmd == b"LOGIN":
                writer.write(tag + b" OK logged in\r\n")
            elif cmd == b"STATUS":
                self.statuses += 1
                writer.write(b"* STATUS INBOX (UIDVALIDITY 1 UIDNEXT 6 "
                             b"MESSAGES 5 UNSEEN 0)\r\n" + tag + b" OK done\r\n")
            elif cmd == b"EXAMINE":
                writer.write(b"* 5 EXISTS\r\n* OK [UIDVALIDITY 1] x\r\n" +
                             tag + b" OK [READ-ONLY] done\r\n")
            elif cmd == b"UID":
                writer.write(b"* SEARCH\r\n" + tag + b" OK done\r\n")
            elif cmd == b"LOGOUT":
                writer.write(b"* BYE bye\r\n" + tag + b" OK done\r\n")
                await writer.drain()
                break
            else:
                writer.write(tag + b" BAD what\r\n")
        writer.close()


class Alone:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.proc = None
        self.sink = None
        self.imap = None
        self.results = {}
        self.nextuid = {}
        self.state_dir = os.path.join(work, "state")
        self.socket = os.path.join(work, "events.sock")
        self.log_path = os.path.join(work, "tidingsd.log")

    def config(self, imap_port):
        return {
            "xmpp": {"component": COMPONENT, "host": "127.0.0.1",
                     "port": self.sink.port, "secret": "bench",
                     "domain": DOMAIN},
            "mail": {"domain": DOMAIN, "imap_host": "127.0.0.1",
                     "imap_port": imap_port, "master_user": "tidings",
                     "master_password": "bench", "imap_workers": 4},
            "events": {"socket": self.socket},
            "state": {"dir": self.state_dir},
            # At most 1000 singles a second per user: far above the
            # rate each of the users gets here, so all are singles.
            "notify": {"burst_max": 1000, "burst_window": "1s"},
            "log": {"level": os.environ.get("ALONE_LOG", "info")},
        }

    async def start_tidingsd(self, imap_port):
        path = td.write_config(os.path.join(self.work, "tidings.conf"),
                               self.config(imap_port))
        log = open(self.log_path, "ab")
        pin = None
        if self.args.pin:
            # tidingsd on one core (all its threads), the bench on the
            # other: "its ceiling on one core".
            def pin():
                os.sched_setaffinity(0, {0})
        self.proc = subprocess.Popen([td.binary(), "-c", path],
                                     stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL,
                                     preexec_fn=pin)
        log.close()
        deadline = time.monotonic() + 15
        while self.sink.connects == 0 or not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("tidingsd did not start; see %s"
                                   % self.log_path)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # startup work (reconcile, resend) settles

    def stop_tidingsd(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.proc = None

    async def run_throughput(self, round_no):
        n, users = self.args.datagrams, self.args.users
        grams = []
        # UIDs go on from round to round: no gap, no reconciliation.
        for i in range(n):
            u = "u%03d@%s" % (i % users, DOMAIN)
            uid = self.nextuid.get(u, 1)
            self.nextuid[u] = uid + 1
            grams.append(datagram(u, uid, i))
        pid = self.proc.pid
        base = self.sink.messages
        mem0 = proc_mem_kb(pid)
        sampler = CpuSampler({"tidingsd": pid}, 0.1)
        cpu0 = proc_cpu_secs(pid)
        sampler.start()
        t0 = time.monotonic()
        await send_all(self.socket, grams)
        ok = await self.sink.wait_messages(base + n, 120)
        t1 = self.sink.last_message_at or time.monotonic()
        await sampler.stop()
        cpu1 = proc_cpu_secs(pid)
        if not ok:
            raise RuntimeError("only %d of %d notifications arrived"
                               % (self.sink.messages - base, n))
        rep = sampler.report().get("tidingsd", {})
        r = {"notifications": n, "secs": t1 - t0,
             "per_sec": n / (t1 - t0),
             "cpu_us_per_notification": (cpu1 - cpu0) * 1e6 / n,
             "avg_core_pct": rep.get("avg_core_pct"),
             "peak_core_pct": rep.get("peak_core_pct"),
             "rss_kb_before": mem0.get("VmRSS"),
             "rss_kb_after": proc_mem_kb(pid).get("VmRSS"),
             "hwm_kb": proc_mem_kb(pid).get("VmHWM")}
        print("throughput run %d: %d notifications in %.2f s = %.0f/s; "
              "tidingsd CPU %.1f us each, %.0f%% of a core on average "
              "(peak %.0f%%); RSS %s -> %s kB"
              % (round_no + 1, n, r["secs"], r["per_sec"],
                 r["cpu_us_per_notification"], r["avg_core_pct"] or 0,
                 r["peak_core_pct"] or 0, r["rss_kb_before"],
                 r["rss_kb_after"]))
        return r

    async def run_unserved(self):
        pid = self.proc.pid
        before = proc_mem_kb(pid)
        grams = [datagram("user%05d@elsewhere.example" % i, 1, i)
                 for i in range(20000)]
        await send_all(self.socket, grams)
        # A served user's event after them: when it arrives, all were read.
        base = self.sink.messages
        await send_all(self.socket, [datagram("marker@" + DOMAIN, 1, 0)])
        if not await self.sink.wait_messages(base + 1, 60):
            raise RuntimeError("the marker notification did not arrive")
        after = proc_mem_kb(pid)
        r = {"rss_kb_before": before.get("VmRSS"),
             "rss_kb_after": after.get("VmRSS"),
             "hwm_kb_after": after.get("VmHWM")}
        print("unserved: 20,000 events for users of a foreign domain: RSS "
              "%s kB -> %s kB (peak %s kB)"
              % (r["rss_kb_before"], r["rss_kb_after"], r["hwm_kb_after"]))
        return r

    def fill_ledger(self, n):
        """n mailbox rows (users m000000@... INBOX, floor UID 5) and one
        notified key each, straight into tidings.db."""
        db = sqlite3.connect(os.path.join(self.state_dir, "tidings.db"))
        now = int(time.time())
        with db:
            db.executemany(
                "INSERT OR IGNORE INTO mailboxes(user, mailbox, uidvalidity,"
                " last_uid) VALUES(?, 'INBOX', 1, 5)",
                (("m%06d@%s" % (i, DOMAIN),) for i in range(n)))
            db.executemany(
                "INSERT OR IGNORE INTO notified(user, mailbox, uidvalidity,"
                " uid, at) VALUES(?, 'INBOX', 1, 5, ?)",
                (("m%06d@%s" % (i, DOMAIN), now) for i in range(n)))
        db.close()

    async def ledger_round(self, n):
        """Start on a ledger of n mailboxes, wait until each was reconciled
        once, return tidingsd's memory then."""
        self.stop_tidingsd()
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.imap = await FakeImap().start()
        await self.start_tidingsd(self.imap.port)
        self.stop_tidingsd()
        if n > 0:
            self.fill_ledger(n)
        self.imap.statuses = 0
        t0 = time.monotonic()
        await self.start_tidingsd(self.imap.port)
        deadline = time.monotonic() + 1800
        while self.imap.statuses < n and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        secs = time.monotonic() - t0
        await asyncio.sleep(1.0)
        mem = proc_mem_kb(self.proc.pid)
        cpu = proc_cpu_secs(self.proc.pid)
        self.stop_tidingsd()
        await self.imap.stop()
        return {"mailboxes": n, "reconciled": self.imap.statuses,
                "secs": secs, "rss_kb": mem.get("VmRSS"),
                "hwm_kb": mem.get("VmHWM"), "cpu_secs": cpu}

    async def run_ledger(self):
        empty = await self.ledger_round(0)
        full = await self.ledger_round(self.args.mailboxes)
        n = self.args.mailboxes
        per = ((full["hwm_kb"] - empty["hwm_kb"]) * 1024.0 / n) if n else 0
        print("ledger: %d mailboxes reconciled at start in %.1f s (%d "
              "STATUS); tidingsd RSS %s kB, peak %s kB (empty ledger: %s "
              "kB, peak %s kB): %.0f bytes of peak memory per mailbox"
              % (n, full["secs"], full["reconciled"], full["rss_kb"],
                 full["hwm_kb"], empty["rss_kb"], empty["hwm_kb"], per))
        return {"empty": empty, "full": full, "peak_bytes_per_mailbox": per}

    async def main(self):
        self.sink = await Sink(COMPONENT, DOMAIN).start()
        try:
            if "throughput" not in self.args.skip or \
                    "unserved" not in self.args.skip:
                await self.start_tidingsd(1)
            if "throughput" not in self.args.skip:
                self.results["throughput"] = [
                    await self.run_throughput(i)
                    for i in range(self.args.rounds)]
            if "unserved" not in self.args.skip:
                self.results["unserved"] = await self.run_unserved()
            if "ledger" not in self.args.skip:
                self.results["ledger"] = await self.run_ledger()
        finally:
            self.stop_tidingsd()
            await self.sink.stop()
        return self.results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datagrams", type=int, default=20000)
    ap.add_argument("--users", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mailboxes", type=int, default=100000)
    ap.add_argument("--skip", action="append", default=[],
                    choices=["throughput", "unserved", "ledger"])
    ap.add_argument("--pin", action="store_true",
                    help="tidingsd on CPU 0 only, the bench on CPU 1")
    ap.add_argument("--json")
    ap.add_argument("--dir")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (the event socket and /proc of tidingsd)")
    if args.pin:
        os.sched_setaffinity(0, {1})
    work = args.dir or tempfile.mkdtemp(prefix="tidings-alone-")
    os.makedirs(work, exist_ok=True)
    res = asyncio.run(Alone(args, work).main())
    res["config"] = vars(args)
    res["cpus"] = os.cpu_count()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    if not args.dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
