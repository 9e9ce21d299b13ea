#!/usr/bin/python3
"""tidings benchmark: figures, not pass/fail. See tests/bench/README.md.

Starts real Dovecot, Prosody and tidingsd in a temporary directory on free
loopback ports (through the integration fixtures in tests/integration/),
logs in --users XMPP clients (tests/bench/rawxmpp.py, one asyncio loop) and
measures:

1. latency: mail accepted over LMTP -> notification read by the client;
2. throughput: datagrams written straight into tidingsd's event socket ->
   notifications read by the clients, with CPU per notification and RSS;
3. Dovecot delivery overhead of the push script: no plugin / tidingsd
   running / tidingsd stopped / tidingsd SIGSTOPped / a no-op script /
   tidings' native driver instead of the Lua script;
4. tidingsd CPU per notification and RSS during the latency run.

Everything binds 127.0.0.1 only, every wait is bounded, and every process
started here is stopped on exit.
"""

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import rawxmpp  # noqa: E402

DOMAIN = "example.org"
SENDER = "bench-sender@example.net"


def pct(values, p):
    """The p-th percentile (nearest rank) of values, or None when empty."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, math.ceil(p / 100.0 * len(v)) - 1))
    return v[k]


def summary_ms(values_s):
    """p50/p90/p99/max/mean in milliseconds of values in seconds."""
    ms = [x * 1000.0 for x in values_s]
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "p50": pct(ms, 50), "p90": pct(ms, 90),
            "p99": pct(ms, 99), "max": max(ms), "min": min(ms),
            "mean": sum(ms) / len(ms)}


def fmt_ms(s):
    if s.get("n", 0) == 0:
        return "no samples"
    return ("p50 %7.3f  p90 %7.3f  p99 %7.3f  max %7.3f ms  (n=%d)"
            % (s["p50"], s["p90"], s["p99"], s["max"], s["n"]))


# ----- processes -----

def proc_cpu_secs(pid):
    """CPU seconds (user+system) of every thread of pid, or None.

    Uses /proc/PID/task/*/schedstat (nanoseconds) when the kernel has it,
    else utime+stime from /proc/PID/stat (clock ticks).
    """
    if not pid:
        return None
    try:
        total = 0
        tasks = os.listdir("/proc/%d/task" % pid)
        for t in tasks:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def proc_mem_kb(pid):
    """{"VmRSS": kB, "VmHWM": kB} of pid ({} when it is gone)."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
    except (OSError, ValueError, TypeError):
        pass
    return out


class BenchStack:
    """tests/integration/stack.py's Stack, set up for the benchmark.

    tidingsd runs with the burst limiter lifted ([notify] burst_max = 1000,
    the highest value the config accepts) and log level info (debug logs a
    line per notification, which would be measured as tidingsd CPU). Adds
    what the bench needs: pids, INBOX status, a second Dovecot without the
    push plugin.
    """

    def __init__(self, work, nusers, prosody_without=()):
        from stack import Stack
        if prosody_without:
            self._patch_prosody(prosody_without)
        self.work = work
        self.password = "bench-pw"
        local = ["u%03d" % i for i in range(nusers)]
        self.stack = Stack(os.path.join(work, "stack"), domain=DOMAIN,
                           users={u: self.password for u in local},
                           notify={"burst_max": "1000"},
                           log={"level": "info"})
        self.users = [self.stack.addr(u) for u in local]
        self.events_socket = self.stack.events_socket
        self.extra_dovecots = []

    @staticmethod
    def _patch_prosody(without):
        """Drops modules from the test Prosody's global modules_enabled.

        A diagnostic (--prosody-without mam): shows what a module costs per
        notification. Wraps prosody.Prosody._write_config; edits only the
        config file it wrote.
        """
        import prosody
        orig = prosody.Prosody._write_config

        def write_config(self):
            orig(self)
            with open(self.config_path) as f:
                lines = f.read().split("\n")
            for i, line in enumerate(lines):
                if line.startswith("modules_enabled"):
                    for m in without:
                        line = line.replace('"%s", ' % m, "").replace(
                            ', "%s"' % m, "")
                    lines[i] = line
            with open(self.config_path, "w") as f:
                f.write("\n".join(lines))
        prosody.Prosody._write_config = write_config

    def start(self):
        self.stack.start()
        self.lmtp_port = self.stack.dovecot.lmtp_port
        self.c2s_port = self.stack.prosody.c2s_port

    def tidingsd_pid(self):
        return self.stack.tidingsd.pid

    def prosody_pid(self):
        proc = self.stack.prosody.proc
        return proc.pid if proc is not None else None

    def inbox_status(self):
        """user -> (UIDVALIDITY, UIDNEXT) of INBOX, over IMAP."""
        out = {}
        for u in self.users:
            imap = self.stack.dovecot.imap(u)
            try:
                typ, data = imap.status("INBOX", "(UIDVALIDITY UIDNEXT)")
                words = data[0].decode().replace("(", " ").replace(
                    ")", " ").split()
                vals = dict(zip(words[1::2], words[2::2]))
                out[u] = (int(vals["UIDVALIDITY"]), int(vals["UIDNEXT"]))
            finally:
                imap.logout()
        return out

    def stop_tidingsd(self):
        td = self.stack.tidingsd
        if td is not None and td.running:
            td.resume()
            td.stop()

    def start_plain_dovecot(self, noop_script=False):
        """A second Dovecot with the same users: no push plugin, or (with
        noop_script) the push plugin running a Lua script that does nothing,
        which isolates Dovecot's own push/Lua cost from the script's."""
        from dovecot import Dovecot
        name = "noop" if noop_script else "plain"
        kw = {}
        if noop_script:
            script = os.path.join(self.work, "noop-push.lua")
            with open(script, "w") as f:
                f.write("function dovecot_lua_notify_begin_txn(user)\n"
                        "\treturn {}\nend\n"
                        "function dovecot_lua_notify_end_txn(ctx, ok)\n"
                        "end\n")
            os.chmod(script, 0o644)
            # A later plugin block overrides the fixture's driver setting.
            kw = {"push_socket": os.path.join(self.work, "nobody.sock"),
                  "extra_conf": "plugin {\n  push_notification_driver = "
                                "lua:file=%s\n}\n" % script}
        dv = Dovecot(os.path.join(self.work, name),
                     {u: self.password for u in self.users},
                     master_user="tidings", master_password="bench-master-pw",
                     **kw)
        self.extra_dovecots.append(dv)
        dv.start()
        return dv

    def start_native_dovecot(self):
        """A Dovecot with tidings' native push driver sending to a plain
        datagram listener; None when the plugin is not built."""
        from dovecot import DatagramListener, NativeDovecot, plugin_path
        if not os.path.exists(plugin_path()):
            return None
        sock = os.path.join(self.work, "native.sock")
        self.listener = DatagramListener(sock)
        dv = NativeDovecot(os.path.join(self.work, "native"),
                           {u: self.password for u in self.users},
                           native_socket=sock, master_user="tidings",
                           master_password="bench-master-pw")
        self.extra_dovecots.append(dv)
        dv.start()
        return dv

    def stop(self):
        if getattr(self, "listener", None) is not None:
            self.listener.close()
        for stop in [d.stop for d in self.extra_dovecots] + [self.stack.stop]:
            if stop is not None:
                try:
                    stop()
                except Exception as e:
                    print("warning: stopping: %s" % e, file=sys.stderr)


# ----- LMTP -----

class Lmtp:
    """A persistent asyncio LMTP connection timing each phase of a delivery."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.r = self.w = None

    async def _reply(self, timeout=15.0):
        """Reads one (possibly multi-line) reply; returns (code, text)."""
        lines = []
        while True:
            line = await asyncio.wait_for(self.r.readline(), timeout)
            if not line:
                raise ConnectionError("LMTP connection closed")
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                break
            if len(lines) > 100:
                raise ConnectionError("LMTP reply too long")
        return int(lines[-1][:3]), b"".join(lines)

    async def connect(self):
        self.r, self.w = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), 10)
        code, _ = await self._reply()
        if code != 220:
            raise ConnectionError("LMTP greeting %d" % code)
        self.w.write(b"LHLO bench.example.net\r\n")
        code, _ = await self._reply()
        if code != 250:
            raise ConnectionError("LHLO refused: %d" % code)

    async def _cmd(self, line, want):
        self.w.write(line)
        code, text = await self._reply()
        if code != want:
            raise ConnectionError("LMTP %r -> %r" % (line.strip(), text))

    async def deliver(self, rcpt, body):
        """Delivers body (bytes, CRLF, already dot-safe) to rcpt.

        Returns (t_start, t0, t1): t_start before MAIL FROM, t0 just before
        the end-of-data dot is written, t1 when the final reply arrived.
        """
        ts = time.perf_counter()
        await self._cmd(b"MAIL FROM:<%s>\r\n" % SENDER.encode(), 250)
        await self._cmd(b"RCPT TO:<%s>\r\n" % rcpt.encode(), 250)
        await self._cmd(b"DATA\r\n", 354)
        self.w.write(body)
        await self.w.drain()
        t0 = time.perf_counter()
        self.w.write(b".\r\n")
        code, text = await self._reply()
        t1 = time.perf_counter()
        if code != 250:
            raise ConnectionError("delivery to %s failed: %r" % (rcpt, text))
        return ts, t0, t1

    def close(self):
        if self.w is not None:
            try:
                self.w.write(b"QUIT\r\n")
            except Exception:
                pass
            self.w.close()
            self.w = None


def make_mail(rcpt, subject, n):
    """A small plain-text mail (CRLF, ending with CRLF, no dot lines)."""
    hdr = ("From: Bench Sender <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
           "Message-ID: <%s@bench.example.net>\r\n"
           "Date: %s\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n"
           % (SENDER, rcpt, subject, subject,
              time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())))
    text = ("Hello, this is benchmark mail number %d. A few words so that "
            "the snippet has something to show.\r\n" % n)
    return (hdr + text).encode()


# ----- sampling -----

class CpuSampler:
    """Samples CPU seconds of named pids every interval (asyncio task)."""

    def __init__(self, pids, interval=0.1):
        self.pids = {k: v for k, v in pids.items() if v}
        self.interval = interval
        self.samples = []  # (t, {name: cpu_secs})
        self._task = None

    def _take(self):
        self.samples.append((time.perf_counter(),
                             {k: proc_cpu_secs(p) for k, p in
                              self.pids.items()}))

    async def _run(self):
        while True:
            await asyncio.sleep(self.interval)
            self._take()

    def start(self):
        self._take()
        self._task = asyncio.ensure_future(self._run())

    async def stop(self):
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._take()

    def report(self):
        """Per process: cpu seconds, average and peak share of one core."""
        out = {}
        if len(self.samples) < 2:
            return out
        (ta, a), (tb, b) = self.samples[0], self.samples[-1]
        for k in self.pids:
            if a.get(k) is None or b.get(k) is None:
                continue
            peak = 0.0
            for (t1, s1), (t2, s2) in zip(self.samples, self.samples[1:]):
                if s1.get(k) is not None and s2.get(k) is not None \
                        and t2 > t1:
                    peak = max(peak, (s2[k] - s1[k]) / (t2 - t1))
            out[k] = {"cpu_secs": b[k] - a[k],
                      "avg_core_pct": 100.0 * (b[k] - a[k]) / (tb - ta),
                      "peak_core_pct": 100.0 * peak}
        return out


# ----- the runs -----

def build_options():
    """buildtype and b_sanitize of the tidingsd build, as meson recorded."""
    build = os.environ.get("TIDINGS_BUILD") or os.path.join(ROOT, "build")
    try:
        with open(os.path.join(build, "meson-info",
                               "intro-buildoptions.json")) as f:
            opts = json.load(f)
        return {o["name"]: o["value"] for o in opts
                if o["name"] in ("buildtype", "b_sanitize")}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


class Bench:
    def __init__(self, args, stack):
        self.args = args
        self.st = stack
        self.loop = asyncio.get_running_loop()
        self.clients = []
        self.pending = {}  # subject token (bytes) -> future of receipt time
        self.mails = 0  # mails notified to all clients so far
        self.target = None  # (count, future): resolved when reached
        self.seen = None  # set of (jid, uid) while checking for duplicates
        self.duplicates = 0
        self.results = {"config": {"users": args.users, "mails": args.mails,
                                   "datagrams": args.datagrams,
                                   "deliveries": args.deliveries,
                                   "prosody_without": args.prosody_without,
                                   "cpus": os.cpu_count(),
                                   "loadavg_at_start": os.getloadavg(),
                                   "build": build_options(),
                                   "wrapper": os.environ.get(
                                       "TIDINGS_WRAPPER", "")}}
        self.rng = random.Random(args.seed)

    def log(self, msg):
        print(msg, flush=True)

    def on_message(self, client, t, kind, uid, subject, count):
        self.mails += count
        if self.seen is not None and uid is not None:
            key = (client.jid, uid)
            if key in self.seen:
                self.duplicates += 1
            else:
                self.seen.add(key)
        tg = self.target
        if tg is not None and self.mails >= tg[0] and not tg[1].done():
            tg[1].set_result(t)
        if subject is not None:
            fut = self.pending.pop(subject, None)
            if fut is not None and not fut.done():
                fut.set_result(t)

    def total_mails(self):
        return self.mails

    async def login(self):
        t = time.perf_counter()
        accounts = [(u, self.st.password) for u in self.st.users]
        self.clients = await rawxmpp.login_many(
            self.loop, "127.0.0.1", self.st.c2s_port, accounts)
        for c in self.clients:
            c.on_message = self.on_message
        self.log("logged in %d XMPP clients in %.2f s"
                 % (len(self.clients), time.perf_counter() - t))
        # Let the initial presences reach tidingsd (mod_privilege).
        await asyncio.sleep(1.0)

    def check_clients(self):
        dead = [c for c in self.clients if c.closed]
        if dead:
            raise RuntimeError("%d XMPP clients disconnected, e.g. %s: %s"
                               % (len(dead), dead[0].jid,
                                  dead[0].close_reason))

    async def deliver_and_wait(self, lmtp, idx, user, prefix, timeout):
        token = "%s-%d-%06d" % (prefix, self.args.seed, idx)
        fut = self.loop.create_future()
        self.pending[token.encode()] = fut
        ts, t0, t1 = await lmtp.deliver(user, make_mail(user, token, idx))
        try:
            tr = await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            self.pending.pop(token.encode(), None)
            tr = None
        return ts, t0, t1, tr

    async def run_latency(self):
        a = self.args
        lmtp = Lmtp("127.0.0.1", self.st.lmtp_port)
        await lmtp.connect()
        # tidingsd's CPU while idle (timers, pings), to subtract below.
        pid = self.st.tidingsd_pid()
        c0, w0 = proc_cpu_secs(pid), time.perf_counter()
        await asyncio.sleep(2.0)
        idle_rate = (proc_cpu_secs(pid) - c0) / (time.perf_counter() - w0)
        # Warm-up: one mail per user creates the mailboxes (not measured).
        for i, u in enumerate(self.st.users):
            await self.deliver_and_wait(lmtp, i, u, "warm", 3.0)
        cpu0, mem0 = proc_cpu_secs(pid), proc_mem_kb(pid)
        got0 = self.total_mails()
        d_t1, d_t0, lmtp_s, missing = [], [], [], 0
        t_start = time.perf_counter()
        for i in range(a.mails):
            u = self.rng.choice(self.st.users)
            ts, t0, t1, tr = await self.deliver_and_wait(lmtp, i, u, "lat",
                                                         2.0)
            lmtp_s.append(t1 - ts)
            if tr is None:
                missing += 1
                continue
            d_t1.append(tr - t1)
            d_t0.append(tr - t0)
        wall = time.perf_counter() - t_start
        lmtp.close()
        cpu1, mem1 = proc_cpu_secs(pid), proc_mem_kb(pid)
        notified = self.total_mails() - got0
        self.check_clients()
        r = {"receipt_minus_lmtp_reply_ms": summary_ms(d_t1),
             "receipt_minus_end_of_data_ms": summary_ms(d_t0),
             "lmtp_delivery_ms": summary_ms(lmtp_s),
             "missing": missing, "notifications": notified,
             "wall_secs": wall,
             "tidingsd_cpu_us_per_notification":
                 1e6 * (cpu1 - cpu0) / notified if notified else None,
             "tidingsd_idle_cpu_pct": 100.0 * idle_rate,
             "tidingsd_cpu_us_per_notification_net_of_idle":
                 1e6 * (cpu1 - cpu0 - idle_rate * wall) / notified
                 if notified else None,
             "tidingsd_rss_kb_before": mem0, "tidingsd_rss_kb_after": mem1}
        self.results["latency"] = r
        neg = sum(1 for x in d_t1 if x < 0)
        self.log("\n1. Latency, %d mails over LMTP to %d online users "
                 "(one at a time)" % (a.mails, len(self.clients)))
        self.log("   receipt - LMTP final 250:   " + fmt_ms(r[
            "receipt_minus_lmtp_reply_ms"]))
        self.log("   receipt - end-of-data sent: " + fmt_ms(r[
            "receipt_minus_end_of_data_ms"]))
        self.log("   LMTP transaction (MAIL..250): " + fmt_ms(r[
            "lmtp_delivery_ms"]))
        self.log("   %d of %d notifications arrived before LMTP's final reply"
                 " (negative deltas); %d never arrived within 2 s"
                 % (neg, len(d_t1), missing))
        self.log_cpu_mem("4. tidingsd during the latency run", r)
        self.log("      (idle tidingsd uses %.2f%% of a core; net of that: "
                 "%.1f us per notification)"
                 % (r["tidingsd_idle_cpu_pct"],
                    r["tidingsd_cpu_us_per_notification_net_of_idle"] or 0))

    def log_cpu_mem(self, title, r):
        cpu = r.get("tidingsd_cpu_us_per_notification")
        b, e = r["tidingsd_rss_kb_before"], r["tidingsd_rss_kb_after"]
        self.log("   %s: CPU %s per notification; VmRSS %s -> %s kB, "
                 "VmHWM %s -> %s kB"
                 % (title, "%.1f us" % cpu if cpu is not None else "n/a",
                    b.get("VmRSS"), e.get("VmRSS"), b.get("VmHWM"),
                    e.get("VmHWM")))

    def build_datagrams(self, n):
        """n MessageNew datagrams in the push script's format, round robin."""
        status = self.st.inbox_status()  # user -> (uidvalidity, uidnext)
        nextuid = {u: status[u][1] for u in self.st.users}
        users = self.st.users
        out = []
        date = int(time.time())
        for i in range(n):
            u = users[i % len(users)]
            uid = nextuid[u]
            nextuid[u] = uid + 1
            subj = "tp-%d-%06d" % (self.args.seed, i)
            # Key order and escaping as examples/dovecot/tidings-push.lua.
            fields = [("v", 1), ("event", "MessageNew"), ("user", u),
                      ("mailbox", "INBOX"), ("uidvalidity", status[u][0]),
                      ("uid", uid),
                      ("message_id", "<%s@bench.example.net>" % subj),
                      ("from", "Bench Sender <%s>" % SENDER),
                      ("from_address", SENDER), ("from_name", "Bench Sender"),
                      ("to", "<%s>" % u), ("subject", subj),
                      ("snippet", "Hello, this is benchmark mail number %d. "
                       "A few words so that the snippet has something to "
                       "show." % i),
                      ("date", date), ("tz", 0), ("flags", [])]
            out.append(("{" + ",".join(
                "%s:%s" % (json.dumps(k), json.dumps(v, ensure_ascii=False,
                                                     separators=(",", ":")))
                for k, v in fields) + "}").encode())
        return out

    async def send_datagrams(self, path, grams):
        """Sends every datagram; waits for writability on EAGAIN/ENOBUFS."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.connect(path)
        s.setblocking(False)
        retries = 0
        i = 0
        fd = s.fileno()
        deadline = time.monotonic() + 120
        try:
            while i < len(grams):
                try:
                    s.send(grams[i])
                    i += 1
                    continue
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:
                    if e.errno not in (105,):  # ENOBUFS
                        raise
                retries += 1
                if time.monotonic() > deadline:
                    raise RuntimeError("event socket stayed full")
                fut = self.loop.create_future()
                self.loop.add_writer(fd, lambda f=fut: f.done() or
                                     f.set_result(None))
                try:
                    await asyncio.wait_for(fut, 0.05)
                except asyncio.TimeoutError:
                    pass
                finally:
                    self.loop.remove_writer(fd)
        finally:
            s.close()
        return retries

    async def run_throughput(self):
        a = self.args
        grams = self.build_datagrams(a.datagrams)
        sizes = [len(g) for g in grams]
        tpid, ppid = self.st.tidingsd_pid(), self.st.prosody_pid()
        mem0 = proc_mem_kb(tpid)
        pmem0 = proc_mem_kb(ppid)
        target = self.total_mails() + a.datagrams
        done = self.loop.create_future()
        self.target = (target, done)
        self.seen, self.duplicates = set(), 0
        singles0 = sum(c.singles for c in self.clients)
        digests0 = sum(c.digests for c in self.clients)
        sampler = CpuSampler({"tidingsd": tpid, "prosody": ppid,
                              "bench": os.getpid()})
        sampler.start()
        t_start = time.perf_counter()
        retries = await self.send_datagrams(self.st.events_socket, grams)
        t_sent = time.perf_counter()
        timeout = 30 + a.datagrams / 500.0
        try:
            t_end = await asyncio.wait_for(done, timeout)
        except asyncio.TimeoutError:
            t_end = None
        await sampler.stop()
        self.target = None
        unique, self.seen = len(self.seen), None
        got = self.total_mails() - (target - a.datagrams)
        mem1, pmem1 = proc_mem_kb(tpid), proc_mem_kb(ppid)
        cpu = sampler.report()
        wall = (t_end if t_end else time.perf_counter()) - t_start
        per = {k: 1e6 * v["cpu_secs"] / got if got else None
               for k, v in cpu.items()}
        busiest = max(cpu.items(), key=lambda kv: kv[1]["avg_core_pct"],
                      default=(None, None))[0]
        r = {"datagrams": a.datagrams, "notified_mails": got,
             "unique_uids_notified": unique,
             "duplicates": self.duplicates,
             "complete": t_end is not None,
             "datagram_bytes_avg": sum(sizes) / len(sizes),
             "send_secs": t_sent - t_start, "send_retries": retries,
             "wall_secs": wall,
             "notifications_per_sec": got / wall if wall > 0 else None,
             "singles": sum(c.singles for c in self.clients) - singles0,
             "digests": sum(c.digests for c in self.clients) - digests0,
             "cpu": cpu, "cpu_us_per_notification": per,
             "bottleneck": busiest,
             "tidingsd_rss_kb_before": mem0, "tidingsd_rss_kb_after": mem1,
             "prosody_rss_kb_before": pmem0, "prosody_rss_kb_after": pmem1}
        self.results["throughput"] = r
        self.check_clients()
        self.log("\n2. Throughput, %d datagrams (%.0f bytes avg) written into "
                 "the event socket, %d users" % (a.datagrams,
                                                  r["datagram_bytes_avg"],
                                                  len(self.clients)))
        self.log("   notified %d of %d in %.3f s -> %.0f notifications/s "
                 "end-to-end%s" % (got, a.datagrams, wall,
                                   r["notifications_per_sec"] or 0,
                                   "" if t_end else " (INCOMPLETE: timed "
                                   "out)"))
        self.log("   %d distinct (user, uid) in single notifications, %d "
                 "duplicates, %d digests" % (unique, self.duplicates,
                                             r["digests"]))
        self.log("   writing took %.3f s with %d waits for a full socket "
                 "(EAGAIN/ENOBUFS)" % (r["send_secs"], retries))
        for k, v in cpu.items():
            self.log("   %-9s CPU %6.3f s = %7.1f us/notification; %5.1f%% "
                     "of a core on average, peak %5.1f%%"
                     % (k, v["cpu_secs"], per[k] or 0, v["avg_core_pct"],
                        v["peak_core_pct"]))
        self.log("   bottleneck: %s (busiest process; %d CPUs on this "
                 "machine)" % (busiest, os.cpu_count()))
        self.log_cpu_mem("tidingsd", {"tidingsd_cpu_us_per_notification":
                                      per.get("tidingsd"),
                                      "tidingsd_rss_kb_before": mem0,
                                      "tidingsd_rss_kb_after": mem1})
        self.log("   prosody VmRSS %s -> %s kB" % (pmem0.get("VmRSS"),
                                                   pmem1.get("VmRSS")))

    async def alternate(self, base, other, n, prefix):
        """n deliveries on each of two LMTP connections, alternating.

        Alternating cancels slow drift (disk, caches) between the two
        series. Returns (base times, other times) in seconds.
        """
        out = ([], [])
        for i in range(n):
            for k, lmtp in enumerate((base, other) if i % 2 else
                                     (other, base)):
                u = self.rng.choice(self.st.users)
                subj = "%s%d-%d-%06d" % (prefix, k, self.args.seed, i)
                ts, t0, t1 = await lmtp.deliver(u, make_mail(u, subj, i))
                out[1 if lmtp is other else 0].append(t1 - ts)
        return out[0], out[1]

    async def run_overhead(self):
        n = self.args.deliveries
        plain = self.st.start_plain_dovecot()
        noopdv = self.st.start_plain_dovecot(noop_script=True)
        base = Lmtp("127.0.0.1", plain.lmtp_port)
        push = Lmtp("127.0.0.1", self.st.lmtp_port)
        noop = Lmtp("127.0.0.1", noopdv.lmtp_port)
        nativedv = self.st.start_native_dovecot()
        native = Lmtp("127.0.0.1", nativedv.lmtp_port) if nativedv else None
        conns = [c for c in (base, push, noop, native) if c is not None]
        for c in conns:
            await c.connect()
        series = {}
        try:
            # Warm-up: create every mailbox of the extra Dovecots.
            for i, u in enumerate(self.st.users):
                for c in (base, noop, native):
                    if c is not None:
                        await c.deliver(u, make_mail(u, "warm-%d" % i, i))
            # (f) tidings' native driver, a listener reading.
            if native is not None:
                series["f_native_listener"] = await self.alternate(
                    base, native, n, "ovf")
            # (e) push plugin running a no-op script: Dovecot's own cost.
            series["e_push_noop_script"] = await self.alternate(
                base, noop, n, "ove")
            # (b) push plugin, tidingsd running.
            series["b_push_running"] = await self.alternate(base, push, n,
                                                            "ovb")
            # (d) tidingsd hung: socket present, nobody reading.
            pid = self.st.tidingsd_pid()
            os.kill(pid, signal.SIGSTOP)
            try:
                series["d_push_tidingsd_sigstop"] = await self.alternate(
                    base, push, n, "ovd")
            finally:
                os.kill(pid, signal.SIGCONT)
            await asyncio.sleep(1.0)
            # (c) tidingsd not running: the socket file is gone.
            self.st.stop_tidingsd()
            series["c_push_tidingsd_down"] = await self.alternate(
                base, push, n, "ovc")
        finally:
            for c in conns:
                c.close()
        a_all = [x for a, _ in series.values() for x in a]
        out = {"a_no_plugin": summary_ms(a_all)}
        for k, (a, b) in series.items():
            sa, sb = summary_ms(a), summary_ms(b)
            sb["added_p50_ms"] = sb["p50"] - sa["p50"]
            sb["added_mean_ms"] = sb["mean"] - sa["mean"]
            sb["added_p99_ms"] = sb["p99"] - sa["p99"]
            sb["paired_no_plugin"] = sa
            out[k] = sb
        self.results["dovecot_overhead"] = out
        self.log("\n3. Dovecot LMTP delivery time (MAIL FROM .. final 250, "
                 "persistent connections), %d deliveries per condition, "
                 "alternating with a Dovecot without the plugin" % n)
        v = out["a_no_plugin"]
        self.log("   %-24s p50 %6.3f  p99 %6.3f  mean %6.3f ms (all %d)"
                 % ("(a) no push plugin", v["p50"], v["p99"], v["mean"],
                    v["n"]))
        for k, title in (("b_push_running", "(b) tidingsd running"),
                         ("c_push_tidingsd_down", "(c) tidingsd down"),
                         ("d_push_tidingsd_sigstop", "(d) tidingsd SIGSTOP"),
                         ("e_push_noop_script", "(e) no-op Lua script"),
                         ("f_native_listener", "(f) native driver")):
            if k not in out:
                self.log("   %-24s skipped: the plugin is not built "
                         "(needs dovecot-dev)" % title)
                continue
            v = out[k]
            self.log("   %-24s p50 %6.3f  p99 %6.3f  mean %6.3f ms;  added "
                     "vs paired (a): p50 %+6.3f  p99 %+6.3f  mean %+6.3f ms"
                     % (title, v["p50"], v["p99"], v["mean"],
                        v["added_p50_ms"], v["added_p99_ms"],
                        v["added_mean_ms"]))


async def amain(args, stack):
    b = Bench(args, stack)
    cfg = b.results["config"]
    if cfg["wrapper"] or cfg["build"].get("b_sanitize", "none") != "none" \
            or cfg["build"].get("buildtype") in ("debug", "plain"):
        b.log("WARNING: tidingsd runs %s (build %s): its figures are not "
              "representative" % (cfg["wrapper"] or "unwrapped",
                                  cfg["build"]))
    await b.login()
    try:
        if "latency" not in args.skip:
            await b.run_latency()
        if "throughput" not in args.skip:
            await b.run_throughput()
        if "overhead" not in args.skip:
            await b.run_overhead()
    finally:
        for c in b.clients:
            c.close()
    return b.results


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=60)
    p.add_argument("--mails", type=int, default=600,
                   help="mails for the latency run")
    p.add_argument("--datagrams", type=int, default=20000,
                   help="datagrams for the throughput run")
    p.add_argument("--deliveries", type=int, default=300,
                   help="deliveries per Dovecot overhead condition")
    p.add_argument("--skip", action="append", default=[],
                   choices=["latency", "throughput", "overhead"])
    p.add_argument("--json", metavar="FILE", help="also write the figures")
    p.add_argument("--dir", help="work here (kept) instead of a temp dir")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--prosody-without", action="append", default=[],
                   metavar="MODULE", help="diagnostic: leave this module "
                   "out of the test Prosody (e.g. mam, carbons)")
    p.add_argument("--max-secs", type=int, default=900,
                   help="give up (and clean up) after this long")
    args = p.parse_args()
    if not 1 <= args.users <= 1000 or args.mails < 0 or \
            args.datagrams < 1 or args.deliveries < 1:
        p.error("out-of-range count")
    work = args.dir or tempfile.mkdtemp(prefix="tidings-bench-")
    os.makedirs(work, exist_ok=True)

    def give_up(signum, frame):
        raise SystemExit("bench: stopped by signal %d" % signum)
    signal.signal(signal.SIGTERM, give_up)
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(args.max_secs)
    stack = BenchStack(work, args.users, args.prosody_without)
    t = time.perf_counter()
    try:
        stack.start()
        print("stack up in %.2f s (work dir %s)" % (time.perf_counter() - t,
                                                   work), flush=True)
        results = asyncio.run(amain(args, stack))
    finally:
        stack.stop()
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    results["total_secs"] = time.perf_counter() - t
    results["loadavg_at_end"] = os.getloadavg()
    print("\ntotal %.1f s; load average at start %.2f, at end %.2f (other "
          "work on the machine skews every figure)"
          % (results["total_secs"], results["config"]["loadavg_at_start"][0],
             results["loadavg_at_end"][0]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
