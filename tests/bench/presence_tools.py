"""Helpers of tests/bench/presence.py: watching the stack's processes and
logs, delivering setup mail over LMTP, filling and reading the ledger.

- Monitor: samples CPU seconds of tidingsd, Prosody, Dovecot (all its
  processes, the ended ones through the master's cutime/cstime) and the
  bench, tidingsd's VmRSS and Dovecot's IMAP logins (DovecotLog), and
  summarises any window of those samples;
- tidings_log_time / last_stats: timestamps and the "stats:" line of
  tidingsd's log;
- deliver_all: one mail to many users, many recipients per LMTP
  transaction (setup, not measured);
- fill_ledger / ledger_counts: ledger-only mailboxes in state/tidings.db
  (schema in bridge/br_ledger.c);
- roster_contacts: how many Prosody rosters hold the Mail contact.
"""

import asyncio
import calendar
import os
import re
import sqlite3
import time

from bench import proc_cpu_secs, proc_mem_kb

DOMAIN = "example.org"
SENDER = "bench-sender@example.net"


# ----- processes and logs -----

def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()


def dovecot_cpu_secs(master):
    """CPU seconds of Dovecot: the master, its reaped children (cutime,
    cstime: every imap/lmtp process that ended) and its live children."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        f = _stat_fields(master)
    except OSError:
        return None
    total = sum(int(x) for x in f[11:15])
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            f = _stat_fields(int(d))
        except (OSError, IndexError):
            continue
        if int(f[1]) == master:
            total += sum(int(x) for x in f[11:15])
    return total / tick


LOG_TS = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z ")


def tidings_log_time(td, needle, since):
    """Wall-clock time (epoch secs) of the first log line of tidingsd after
    byte since that holds needle, or None."""
    for line in td.log(since).splitlines():
        if needle in line:
            m = LOG_TS.match(line)
            if m:
                y, mo, d, h, mi, s, ms = (int(x) for x in m.groups())
                return calendar.timegm((y, mo, d, h, mi, s)) + ms / 1e3
    return None


def tidings_log_users(td, since, pattern):
    """{user: wall-clock time (epoch secs)} of the first tidingsd log line
    after byte since matching pattern (a compiled regex whose group 1 is
    the user) for each user."""
    out = {}
    for line in td.log(since).splitlines():
        m = pattern.search(line)
        if m and m.group(1) not in out:
            t = LOG_TS.match(line)
            if t:
                y, mo, d, h, mi, sec, ms = (int(x) for x in t.groups())
                out[m.group(1)] = calendar.timegm((y, mo, d, h, mi, sec)) \
                    + ms / 1e3
    return out


def last_stats(td, since):
    """The numbers of tidingsd's last "stats:" line after since, as a dict
    (e.g. {"online users": 1000, "reconciliations": 1000}), or {}."""
    lines = [x for x in td.log(since).splitlines() if " stats: " in x]
    if not lines:
        return {}
    out = {}
    text = lines[-1].split(" stats: ", 1)[1]
    for part in re.split(r", |\(|\)", text):
        m = re.match(r"\s*([a-z][a-z ]*?) (\d+)", part)
        if m:
            out.setdefault(m.group(1), int(m.group(2)))
    return out


class DovecotLog:
    """Reads Dovecot's log as it grows; keeps every imap-login "Login:"
    user in order and counts the other imap-login lines (failures)."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.rest = b""
        self.users = []
        self.failures = 0

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        data = self.rest + data
        lines = data.split(b"\n")
        self.rest = lines.pop()
        for line in lines:
            i = line.find(b"imap-login: ")
            if i < 0:
                continue
            j = line.find(b"Login: user=<", i)
            if j >= 0:
                k = line.find(b">", j)
                self.users.append(line[j + 13:k].decode(errors="replace"))
            elif b"auth failed" in line or b"Aborted login" in line:
                self.failures += 1


class Monitor:
    """Samples, every interval: CPU seconds of tidingsd, Prosody, Dovecot
    (all processes) and the bench; tidingsd's VmRSS; Dovecot's IMAP
    logins so far."""

    def __init__(self, st, interval=0.2):
        self.st = st
        self.interval = interval
        self.dlog = DovecotLog(st.dovecot.log_path)
        self.samples = []  # (t, {name: cpu}, rss_kb, logins)
        self._task = None

    def cpu(self):
        td = self.st.tidingsd
        pv = self.st.prosody.proc
        return {"tidingsd": proc_cpu_secs(td.pid) if td.running else None,
                "prosody": proc_cpu_secs(pv.pid) if pv else None,
                "dovecot": dovecot_cpu_secs(self.st.dovecot.proc.pid),
                "bench": proc_cpu_secs(os.getpid())}

    def take(self):
        self.dlog.poll()
        td = self.st.tidingsd
        rss = proc_mem_kb(td.pid).get("VmRSS") if td.running else None
        s = (time.perf_counter(), self.cpu(), rss, len(self.dlog.users))
        self.samples.append(s)
        return s

    async def _run(self):
        while True:
            await asyncio.sleep(self.interval)
            self.take()

    def start(self):
        self.take()
        self._task = asyncio.ensure_future(self._run())

    async def stop(self):
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def window(self, ta, tb):
        """CPU per process (secs, average and peak over 1 s in % of one
        core), peak tidingsd RSS, IMAP logins (count, average and peak
        rate over 1 s) between the samples nearest to ta and tb."""
        out = {"secs": tb - ta, "cpu": {}}
        if not self.samples:
            return out
        # From the last sample at or before ta to the first at or after tb:
        # adjacent windows share a sample, so their figures add up.
        before = [s for s in self.samples if s[0] <= ta]
        after = [s for s in self.samples if s[0] >= tb]
        first = before[-1] if before else self.samples[0]
        last = after[0] if after else self.samples[-1]
        ss = [s for s in self.samples if first[0] <= s[0] <= last[0]]
        if len(ss) < 2:
            return out
        a, b = ss[0], ss[-1]
        for k in a[1]:
            # Samples where the process ran (tidingsd may start late).
            vs = [(s[0], s[1][k]) for s in ss if s[1].get(k) is not None]
            if len(vs) < 2 or vs[-1][0] <= vs[0][0]:
                continue
            # Peak over 1 s: Dovecot's processes end between the reads of
            # one sample, which shows as a dip and a spike 0.2 s apart.
            peak = 0.0
            for i, (t1, v1) in enumerate(vs):
                for t2, v2 in vs[i + 1:]:
                    if t2 - t1 >= 1.0:
                        peak = max(peak, (v2 - v1) / (t2 - t1))
                        break
            out["cpu"][k] = {"secs": vs[-1][1] - vs[0][1],
                             "avg_pct": 100 * (vs[-1][1] - vs[0][1]) /
                             (vs[-1][0] - vs[0][0]), "peak_pct": 100 * peak}
        rss = [s[2] for s in ss if s[2] is not None]
        out["tidingsd_rss_kb_peak"] = max(rss) if rss else None
        out["logins"] = b[3] - a[3]
        if b[3] > a[3]:
            # From the last sample before the first new login to the
            # first sample that has them all.
            first = [s for s in ss if s[3] == a[3]][-1][0]
            last = next(s[0] for s in ss if s[3] == b[3])
            out["login_secs"] = last - first
            out["logins_per_sec"] = (b[3] - a[3]) / (last - first) \
                if last > first else None
            peak = 0.0
            for i, s in enumerate(ss):
                for s2 in ss[i + 1:]:
                    if s2[0] - s[0] >= 1.0:
                        peak = max(peak, (s2[3] - s[3]) / (s2[0] - s[0]))
                        break
            out["logins_per_sec_peak_1s"] = peak
        return out


def fmt_cpu(w):
    return "; ".join("%s %.2f s (%.0f%% of a core, peak %.0f%% over 1 s)"
                     % (k, v["secs"], v["avg_pct"], v["peak_pct"])
                     for k, v in w.get("cpu", {}).items())


def busiest(w):
    cpu = w.get("cpu", {})
    if not cpu:
        return None
    return max(cpu.items(), key=lambda kv: kv[1]["avg_pct"])[0]


# ----- LMTP: setup deliveries, many recipients per transaction -----

class Lmtp:
    def __init__(self, port):
        self.port = port
        self.r = self.w = None

    async def _reply(self):
        while True:
            line = await asyncio.wait_for(self.r.readline(), 60)
            if not line:
                raise ConnectionError("LMTP connection closed")
            if line[3:4] != b"-":
                return int(line[:3]), line

    async def connect(self):
        self.r, self.w = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), 10)
        await self._reply()
        self.w.write(b"LHLO bench.example.net\r\n")
        await self._reply()

    async def _cmd(self, line, want):
        self.w.write(line)
        code, text = await self._reply()
        if code != want:
            raise ConnectionError("LMTP %r -> %r" % (line.strip(), text))

    async def deliver(self, rcpts, body):
        """One mail (CRLF, dot-safe) to every rcpt in one transaction."""
        await self._cmd(b"MAIL FROM:<%s>\r\n" % SENDER.encode(), 250)
        for r in rcpts:
            await self._cmd(b"RCPT TO:<%s>\r\n" % r.encode(), 250)
        await self._cmd(b"DATA\r\n", 354)
        self.w.write(body + b".\r\n")
        for r in rcpts:
            code, text = await self._reply()
            if code != 250:
                raise ConnectionError("delivery to %s: %r" % (r, text))

    def close(self):
        if self.w is not None:
            self.w.write(b"QUIT\r\n")
            self.w.close()
            self.w = None


def make_mail(subject):
    return ("From: Bench Sender <%s>\r\nTo: <undisclosed-recipients:;>\r\n"
            "Subject: %s\r\nMessage-ID: <%s.%s@bench.example.net>\r\n"
            "Date: %s\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "A mail for the presence benchmark.\r\n"
            % (SENDER, subject, subject, os.urandom(6).hex(),
               time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()))
            ).encode()


async def deliver_all(port, users, subjects, conns=4, batch=100):
    """One mail per subject to every user: batch recipients per LMTP
    transaction, a batch's mails back to back (a user's mails arrive
    within milliseconds), over conns parallel connections. Returns
    seconds."""
    t = time.perf_counter()
    bodies = [make_mail(s) for s in subjects]
    batches = [users[i:i + batch] for i in range(0, len(users), batch)]

    async def worker(k):
        lm = Lmtp(port)
        await lm.connect()
        try:
            for b in batches[k::conns]:
                for body in bodies:
                    await lm.deliver(b, body)
        finally:
            lm.close()
    await asyncio.gather(*(worker(k) for k in range(conns)))
    return time.perf_counter() - t


# ----- the ledger -----

def fill_ledger(path, total, rng):
    """Adds ledger-only mailboxes until mailboxes holds total rows: users
    k000001@... / x000002@... (sorting before and after the real u....),
    INBOX, a UIDVALIDITY, a last_uid, a floor a little below it (pruned
    keys), one recent notified key, and the Mail contact mark, as a long
    run leaves them. Returns (rows before, rows after, seconds)."""
    t = time.perf_counter()
    db = sqlite3.connect(path, timeout=30)
    before = db.execute("SELECT count(*) FROM mailboxes").fetchone()[0]
    now = int(time.time())
    rows, keys, marks = [], [], []
    for i in range(max(0, total - before)):
        user = "%s%06d@%s" % ("kx"[i % 2], i, DOMAIN)
        last = rng.randrange(1, 20000)
        uv = 1600000000 + rng.randrange(10 ** 8)
        rows.append((user, uv, last, max(0, last - rng.randrange(1, 200))))
        keys.append((user, uv, last, now - rng.randrange(30 * 86400)))
        marks.append((user,))
    with db:
        db.executemany("INSERT INTO mailboxes(user, mailbox, uidvalidity,"
                       " last_uid, floor_uid) VALUES(?, 'INBOX', ?, ?, ?)",
                       rows)
        db.executemany("INSERT INTO notified(user, mailbox, uidvalidity,"
                       " uid, at) VALUES(?, 'INBOX', ?, ?, ?)", keys)
        db.executemany("INSERT OR IGNORE INTO settings(user, name, value)"
                       " VALUES(?, 'mail_contact', 1)", marks)
    after = db.execute("SELECT count(*) FROM mailboxes").fetchone()[0]
    db.close()
    return before, after, time.perf_counter() - t


def ledger_counts(path):
    """(mailbox rows, rows with a due mark) of the ledger (read-only)."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    try:
        n = db.execute("SELECT count(*) FROM mailboxes").fetchone()[0]
        due = db.execute("SELECT count(*) FROM mailboxes"
                         " WHERE rescan_from IS NOT NULL").fetchone()[0]
    finally:
        db.close()
    return n, due


def roster_contacts(prosody_dir):
    """How many users' Prosody rosters hold the Mail contact."""
    d = os.path.join(prosody_dir, "data", "example%2eorg", "roster")
    n = 0
    for name in os.listdir(d) if os.path.isdir(d) else ():
        with open(os.path.join(d, name), errors="replace") as f:
            if "mail.example.org" in f.read():
                n += 1
    return n


# ----- the stack -----
