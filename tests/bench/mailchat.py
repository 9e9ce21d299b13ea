#!/usr/bin/python3
"""tidings mail-from-chat benchmark (issue 7): figures, not pass/fail.

See tests/bench/README.md ("Mail from chat"). Starts real Dovecot, a
private Postfix relaying to it over LMTP, Prosody and tidingsd
(tests/integration/stack.py with postfix=True) in a temporary directory on
free loopback ports, and measures with raw XMPP clients
(tests/bench/rawxmpp.py, one asyncio loop):

1. latency, one chat at a time, alice -> bob\\40example.org@mail.example.org
   (bob a local user): chat sent -> "Sent to" answer read by alice, -> the
   mail in bob's INBOX (IMAP STATUS polled as the master user), -> bob's
   notification read; the same (without a notification) for an address
   at a second mail domain, dora@example.net, in the same Dovecot;
2. throughput: M senders write K chats each at once to M recipients:
   mails/s until every answer, every mail in its INBOX, every
   notification and every Sent copy; CPU of Postfix, tidingsd, Dovecot,
   Prosody and the bench; tidingsd RSS.

Every wait is bounded, everything binds 127.0.0.1, and every process
started here is stopped on exit.
"""

import argparse
import asyncio
import json
import os
import re
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
from presence import DOVECOT_REUSE, fmt_ms  # noqa: E402
from presence_tools import dovecot_cpu_secs  # noqa: E402
from mailchat_tools import (KIND_NOT_SENT, KIND_SENT,  # noqa: E402
                            ImapStatus, answer_address, chat, escape_node,
                            not_sent_reason, postfix_pid)

DOMAIN = "example.org"
EXT = "dora@example.net"  # a second mail domain, same Dovecot
PASSWORD = "bench-pw"
SEND_LIMIT = 100000  # the highest [mail] send_limit the config accepts
# tidingsd's info line when a reconciliation found mails no push event
# announced (Dovecot's push script drops events when the socket is full).
RECONCILED = re.compile(r"reconcile\([^)]*\): found (\d+) unnotified")

# ----- the stack -----

class MailchatStack:
    """Stack with Postfix; users alice, bob, s00.. (senders) and r00..
    (recipients), dora@example.net in Dovecot only; tidingsd at log level
    info with [notify] burst_max = 1000 (single notifications) and [mail]
    send_limit = 100000 (the limit never interferes); Dovecot as the
    fixture sets it up plus DOVECOT_REUSE[--dovecot-reuse]."""

    def __init__(self, work, args):
        from stack import Stack
        self.senders = ["s%02d" % i for i in range(args.users)]
        self.rcpts = ["r%02d" % i for i in range(args.users)]
        users = {u: PASSWORD for u in ["alice", "bob"] + self.senders +
                 self.rcpts}
        mail = {"send_limit": str(SEND_LIMIT)}
        if args.smtp_workers:
            mail["smtp_workers"] = str(args.smtp_workers)
        self.stack = Stack(os.path.join(work, "stack"), domain=DOMAIN,
                           users=users, extra_users={EXT: PASSWORD},
                           notify={"burst_max": "1000"},
                           log={"level": "info"}, postfix=True,
                           mail_settings=mail,
                           dovecot_conf=DOVECOT_REUSE[args.dovecot_reuse])

    def start(self):
        self.stack.start()

    def pids(self):
        st = self.stack
        return {"postfix": postfix_pid(st.postfix),
                "tidingsd": st.tidingsd.pid,
                "dovecot": st.dovecot.proc.pid,
                "prosody": st.prosody.proc.pid,
                "bench": os.getpid()}

    def cpu(self):
        """CPU seconds per process; Postfix and Dovecot with their live
        and reaped children."""
        p = self.pids()
        return {"postfix": dovecot_cpu_secs(p["postfix"]),
                "tidingsd": proc_cpu_secs(p["tidingsd"]),
                "dovecot": dovecot_cpu_secs(p["dovecot"]),
                "prosody": proc_cpu_secs(p["prosody"]),
                "bench": proc_cpu_secs(p["bench"])}

    def log_size(self):
        return self.stack.tidingsd.log_size()

    def reconciled(self, since):
        """Mails tidingsd found by reconciliation since log byte since."""
        return sum(int(m.group(1)) for m in RECONCILED.finditer(
            self.stack.tidingsd.log(since)))

    def imap_logins(self):
        return len(self.stack.dovecot.login_lines())

    def stop(self):
        self.stack.stop()


# ----- the runs -----

class Bench:
    def __init__(self, args, ms):
        self.args, self.ms, self.st = args, ms, ms.stack
        self.loop = asyncio.get_running_loop()
        self.waits = {}  # (kind, token bytes) -> future of receipt time
        self.not_sent = {}  # reason -> count
        self.not_sent_sample = None
        self.answers = 0
        self.notes = []  # receipt times of notifications (throughput)
        self.note_by = {}  # client jid -> mails notified
        self.misrouted = 0
        self.expect = {}  # token -> recipient JID (throughput)
        self.answers_target = None  # (count, future)
        self.answers_by = {}  # sender JID -> answers read
        self.failed_by = {}  # sender JID -> "Not sent" answers
        self.failed_to = {}  # recipient address -> "Not sent" answers
        self.clients = []
        b = build_options()
        self.results = {"config": {
            "users": args.users, "chats": args.chats, "mails": args.mails,
            "external": args.external, "poll_ms": args.poll_ms,
            "window": args.window, "dovecot_reuse": args.dovecot_reuse,
            "smtp_workers": args.smtp_workers or "default (2)",
            "send_limit": SEND_LIMIT, "cpus": os.cpu_count(),
            "loadavg_at_start": os.getloadavg(), "build": b,
            "wrapper": os.environ.get("TIDINGS_WRAPPER", "")}}

    def log(self, msg):
        print(msg, flush=True)

    def on_message(self, c, t, kind, uid, subject, count):
        if kind == KIND_SENT or kind == KIND_NOT_SENT:
            self.answers += 1
            self.answers_by[c.jid] = self.answers_by.get(c.jid, 0) + 1
            if kind == KIND_NOT_SENT:
                r = not_sent_reason(subject)
                self.not_sent[r] = self.not_sent.get(r, 0) + 1
                self.failed_by[c.jid] = self.failed_by.get(c.jid, 0) + 1
                to = answer_address(subject, self.st.component)
                self.failed_to[to] = self.failed_to.get(to, 0) + 1
                if self.not_sent_sample is None:
                    self.not_sent_sample = subject[:600].decode(
                        errors="replace")
                subject = None
            tg = self.answers_target
            if tg is not None and self.answers >= tg[0] and \
                    not tg[1].done():
                tg[1].set_result(t)
        elif count:
            self.notes.append(t)
            self.note_by[c.jid] = self.note_by.get(c.jid, 0) + count
            if subject is not None and subject in self.expect and \
                    self.expect[subject] != c.jid:
                self.misrouted += 1
        if subject is not None:
            fut = self.waits.pop((kind, subject), None)
            if fut is not None and not fut.done():
                fut.set_result(t)

    async def login(self, users):
        accounts = [(self.st.jid(u), PASSWORD) for u in users]
        cs = await rawxmpp.login_many(self.loop, "127.0.0.1",
                                      self.st.prosody.c2s_port, accounts)
        for c in cs:
            c.on_message = self.on_message
        self.clients += cs
        return cs

    async def imap(self, address):
        dv = self.st.dovecot
        return await ImapStatus(dv.imap_port, address, dv.master_user,
                                dv.master_password).connect()

    def wait_for(self, kind, token):
        fut = self.loop.create_future()
        self.waits[(kind, token.encode())] = fut
        return fut

    async def poll_inbox(self, poller, base, deadline):
        """Polls until UIDNEXT > base: (time the positive answer came,
        that minus the time the last negative STATUS was written), or
        None at the deadline."""
        prev = time.perf_counter()
        while time.perf_counter() < deadline:
            n, t0, t1 = await poller.status()
            if n > base:
                return t1, t1 - prev
            prev = t0
            await asyncio.sleep(self.args.poll_ms / 1000.0)
        return None

    async def one(self, sender, rcpt, poller, token, n, notify):
        """One chat to rcpt's address; returns the three delays (s) or
        None for each that did not come within --timeout."""
        base = (await poller.status())[0]
        f_sent = self.wait_for(KIND_SENT, token)
        f_note = self.wait_for(rawxmpp.KIND_SINGLE, token) if notify \
            else None
        t0 = time.perf_counter()
        sender.send_raw(chat("%s@%s" % (escape_node(rcpt),
                                        self.st.component), token, n))
        deadline = t0 + self.args.timeout
        inbox = await self.poll_inbox(poller, base, deadline)
        out = {"inbox": inbox[0] - t0 if inbox else None,
               "resolution": inbox[1] if inbox else None}
        for k, f in (("sent", f_sent), ("note", f_note)):
            if f is None:
                continue
            try:
                t = await asyncio.wait_for(
                    f, max(0.01, deadline - time.perf_counter()))
                out[k] = t - t0
            except asyncio.TimeoutError:
                out[k] = None
        self.waits.clear()
        return out

    async def run_latency(self, key, title, rcpt, count, notify):
        alice, bob = self.clients[0], self.clients[1]
        poller = await self.imap(rcpt)
        for i in range(self.args.warmup):
            await self.one(alice, rcpt, poller, "%s-warm-%d-%d" % (
                key, self.args.seed, i), i, notify)
        td = self.st.tidingsd.pid
        cpu0, mem0 = proc_cpu_secs(td), proc_mem_kb(td)
        log0 = self.ms.log_size()
        rows = []
        for i in range(count):
            rows.append(await self.one(alice, rcpt, poller, "%s-%d-%05d" % (
                key, self.args.seed, i), i, notify))
        cpu1, mem1 = proc_cpu_secs(td), proc_mem_kb(td)
        poller.close()
        figs = {"not_sent": dict(self.not_sent)}
        names = [("sent", "chat -> 'Sent to' read by the sender"),
                 ("inbox", "chat -> mail in the INBOX (STATUS poll)")]
        if notify:
            names.append(("note", "chat -> notification read by %s"
                          % bob.jid.split("@")[0]))
        self.log("\n%s, %d chats one at a time, alice -> %s (%d warm-up "
                 "chats not counted)" % (title, count, rcpt,
                                         self.args.warmup))
        if self.not_sent:
            self.log("   NOT SENT answers: %s, e.g. %s" % (
                json.dumps(self.not_sent), self.not_sent_sample))
        self.not_sent = {}
        for k, label in names:
            vals = [r[k] for r in rows if r.get(k) is not None]
            s = summary_ms(vals)
            s["missing"] = count - len(vals)
            figs[k] = s
            self.log("   %-42s %s%s" % (label, fmt_ms(s), "  MISSING %d"
                                       % s["missing"] if s["missing"]
                                       else ""))
        res = summary_ms([r["resolution"] for r in rows
                          if r.get("resolution") is not None])
        figs["inbox_resolution"] = res
        if res["n"]:
            self.log("   INBOX time resolution (last negative STATUS "
                     "written -> positive answer read): mean %.2f ms, max "
                     "%.2f ms; poll every %g ms" % (res["mean"], res["max"],
                                                    self.args.poll_ms))
        figs["reconciled"] = self.ms.reconciled(log0)
        if figs["reconciled"]:
            self.log("   %d mails notified late, through reconciliation "
                     "(their push events were lost)" % figs["reconciled"])
        figs["tidingsd_cpu_us_per_mail"] = 1e6 * (cpu1 - cpu0) / count
        figs["tidingsd_rss_kb_before"] = mem0
        figs["tidingsd_rss_kb_after"] = mem1
        self.log("   tidingsd CPU %.0f us per mail; VmRSS %s -> %s kB, "
                 "VmHWM %s kB" % (figs["tidingsd_cpu_us_per_mail"],
                                  mem0.get("VmRSS"), mem1.get("VmRSS"),
                                  mem1.get("VmHWM")))
        self.results[key] = figs

    async def poll_all(self, pollers, want, deadline, mailbox, what):
        """Polls every (poller, base, wanted) until each reached base +
        wanted, the ones not there yet each round, every 20 ms. Returns
        the time all were there, or None; want() may change."""
        left = list(pollers)
        while time.perf_counter() < deadline:
            nxt = []
            for p, base in left:
                n, _, t1 = await p.status(mailbox, what)
                if n - base < want(p):
                    nxt.append((p, base))
            left = nxt
            if not left:
                return t1
            await asyncio.sleep(0.02)
        return None

    async def run_throughput(self):
        a, ms = self.args, self.ms
        senders = await self.login(ms.senders)
        rcpts = await self.login(ms.rcpts)
        await asyncio.sleep(1.0)  # the presences reach tidingsd
        inbox = [await self.imap(self.st.addr(r)) for r in ms.rcpts]
        sent = [await self.imap(self.st.addr(s)) for s in ms.senders]
        m, k = len(senders), a.chats
        plan = {}  # recipient address -> chats planned
        jobs = []  # (sender client, [stanza, ...])
        for i, c in enumerate(senders):
            st = []
            for j in range(k):
                r = ms.rcpts[(i + j) % m]
                tok = "tp-%d-%02d-%03d" % (a.seed, i, j)
                self.expect[tok.encode()] = self.st.jid(r)
                plan[self.st.addr(r)] = plan.get(self.st.addr(r), 0) + 1
                st.append(chat("%s@%s" % (escape_node(self.st.addr(r)),
                                          self.st.component), tok, j))
            jobs.append((c, st))
        ibase = [(p, (await p.status())[0]) for p in inbox]
        sbase = [(p, (await p.status("Sent", "MESSAGES"))[0]) for p in sent]
        total = m * k
        self.answers, self.not_sent, self.notes = 0, {}, []
        self.note_by, self.misrouted = {}, 0
        self.answers_by, self.failed_by, self.failed_to = {}, {}, {}
        done = self.loop.create_future()
        self.answers_target = (total, done)
        td = self.st.tidingsd.pid
        mem0, logins0 = proc_mem_kb(td), ms.imap_logins()
        log0 = ms.log_size()
        cpu0 = ms.cpu()
        t_start = time.perf_counter()
        deadline = t_start + a.timeout + total / 5.0

        async def send(c, stanzas):
            w = a.window or len(stanzas)
            for i in range(0, len(stanzas), w):
                c.send_raw("".join(stanzas[i:i + w]))
                while self.answers_by.get(c.jid, 0) < i + len(
                        stanzas[i:i + w]) and time.perf_counter() < deadline:
                    await asyncio.sleep(0.005)
        senders_task = asyncio.gather(*(send(c, s) for c, s in jobs))
        inbox_task = asyncio.ensure_future(self.poll_all(
            ibase, lambda p: plan[p.user] - self.failed_for(p.user),
            deadline, "INBOX", "UIDNEXT"))
        try:
            t_answers = await asyncio.wait_for(
                done, max(1, deadline - time.perf_counter()))
        except asyncio.TimeoutError:
            t_answers = None
        self.answers_target = None
        await senders_task
        n_sent = self.answers - sum(self.not_sent.values())
        t_inbox = await inbox_task
        t_copies = await self.poll_all(
            sbase, lambda p: k - self.failed_for_sender(p.user), deadline,
            "Sent", "MESSAGES")
        while len(self.notes) < n_sent and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        t_notes = sorted(self.notes)[n_sent - 1] \
            if n_sent and len(self.notes) >= n_sent else None
        cpu1 = ms.cpu()
        t_end = time.perf_counter()
        mem1, logins1 = proc_mem_kb(td), ms.imap_logins()
        reconciled = ms.reconciled(log0)
        for p in inbox + sent:
            p.close()
        for c in senders + rcpts:
            c.close()
        self.report_throughput(locals())

    def failed_for(self, address):
        """Chats to address answered "Not sent": no mail to wait for."""
        return self.failed_to.get(address, 0)

    def failed_for_sender(self, address):
        return self.failed_by.get(address, 0)

    def report_throughput(self, v):
        a = self.args
        total, n_sent, t0 = v["total"], v["n_sent"], v["t_start"]
        wall = v["t_end"] - t0
        cpu = {k: v["cpu1"][k] - v["cpu0"][k] for k in v["cpu0"]
               if v["cpu0"][k] is not None and v["cpu1"][k] is not None}
        allcpu = sum(cpu.values())

        def rate(t):
            return None if t is None else {"secs": t - t0,
                                           "mails_per_sec": n_sent / (t - t0)
                                           if n_sent else None}
        r = {"chats": total, "sent": n_sent, "not_sent": self.not_sent,
             "not_sent_sample": self.not_sent_sample,
             "answers": self.answers,
             "all_answers": rate(v["t_answers"]),
             "all_in_inbox": rate(v["t_inbox"]),
             "all_notified": rate(v["t_notes"]),
             "all_sent_copies": rate(v["t_copies"]),
             "notified_mails": len(self.notes),
             "reconciled": v["reconciled"],
             "misrouted_notifications": self.misrouted,
             "notified_senders": sum(self.note_by.get(c.jid, 0)
                                     for c in v["senders"]),
             "cpu_secs": cpu, "wall_secs": wall,
             "cpu_share_pct": {k: 100.0 * x / allcpu if allcpu else None
                               for k, x in cpu.items()},
             "cpu_us_per_mail": {k: 1e6 * x / n_sent if n_sent else None
                                 for k, x in cpu.items()},
             "imap_logins": v["logins1"] - v["logins0"],
             "tidingsd_rss_kb_before": v["mem0"],
             "tidingsd_rss_kb_after": v["mem1"]}
        self.results["throughput"] = r
        self.log("\n3. Throughput: %d senders x %d chats at once%s to %d "
                 "recipients (all online)" % (
                     len(v["senders"]), a.chats, "" if not a.window else
                     " (at most %d unanswered per sender)" % a.window,
                     len(v["rcpts"])))
        self.log("   %d chats: %d 'Sent to', %d not sent %s" % (
            total, n_sent, sum(self.not_sent.values()),
            json.dumps(self.not_sent)))
        if self.not_sent_sample:
            self.log("   e.g. %s" % self.not_sent_sample)
        for key, label in (("all_answers", "every answer read"),
                           ("all_in_inbox", "every mail in its INBOX"),
                           ("all_notified", "every notification read"),
                           ("all_sent_copies", "every copy in Sent")):
            x = r[key]
            self.log("   %-26s %s" % (label, "NOT REACHED (timeout)"
                                      if x is None else
                                      "%7.2f s  -> %6.1f mails/s" % (
                                          x["secs"],
                                          x["mails_per_sec"] or 0)))
        self.log("   notifications: %d mails, %d to the wrong user, %d to "
                 "senders, %d found late by reconciliation (push events "
                 "lost)" % (len(self.notes), self.misrouted,
                            r["notified_senders"], v["reconciled"]))
        self.log("   CPU over %.2f s (first chat -> the last of these four),"
                 " share of the %.2f s of these processes:" % (wall, allcpu))
        for k in ("postfix", "tidingsd", "dovecot", "prosody", "bench"):
            if k in cpu:
                self.log("     %-9s %6.2f s  %5.1f%%  %7.0f us/mail" % (
                    k, cpu[k], r["cpu_share_pct"][k] or 0,
                    r["cpu_us_per_mail"][k] or 0))
        self.log("   Dovecot IMAP logins during the run: %d (%.2f per mail;"
                 " the bench's own are made before)" % (
                     r["imap_logins"], r["imap_logins"] / n_sent
                     if n_sent else 0))
        self.log("   tidingsd VmRSS %s -> %s kB, VmHWM %s kB" % (
            v["mem0"].get("VmRSS"), v["mem1"].get("VmRSS"),
            v["mem1"].get("VmHWM")))


async def amain(args, ms):
    b = Bench(args, ms)
    cfg = b.results["config"]
    bt = cfg["build"].get("buildtype", "unknown")
    san = cfg["build"].get("b_sanitize", "none")
    b.log("tidingsd build: buildtype %s, b_sanitize %s%s" % (
        bt, san, ", wrapper %s" % cfg["wrapper"] if cfg["wrapper"] else ""))
    if cfg["wrapper"] or san != "none" or bt in ("debug", "plain"):
        b.log("WARNING: tidingsd runs %s (build %s): its figures are not "
              "representative" % (cfg["wrapper"] or "unwrapped",
                                  cfg["build"]))
    b.log("[mail] send_limit = %d for this bench (default 30 per hour "
          "would refuse most chats)" % SEND_LIMIT)
    await b.login(["alice", "bob"])
    await asyncio.sleep(1.0)  # the presences reach tidingsd
    try:
        if "latency" not in args.skip and args.mails:
            await b.run_latency("latency", "1. Latency, local recipient",
                                ms.stack.addr("bob"), args.mails, True)
        if "external" not in args.skip and args.external:
            await b.run_latency("latency_external", "2. Latency, address "
                                "at a second mail domain (no XMPP user)",
                                EXT, args.external, False)
        if "throughput" not in args.skip:
            await b.run_throughput()
    finally:
        for c in b.clients:
            c.close()
    return b.results


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mails", type=int, default=200,
                   help="chats for the latency run (local recipient)")
    p.add_argument("--external", type=int, default=100,
                   help="chats to dora@example.net (0: skip)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--poll-ms", type=float, default=1.0,
                   help="pause between two STATUS polls (latency runs)")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="per chat in the latency runs; throughput: this "
                        "plus 0.2 s per chat")
    p.add_argument("--users", type=int, default=20,
                   help="senders (and as many recipients) for throughput")
    p.add_argument("--chats", type=int, default=25,
                   help="chats per sender for throughput")
    p.add_argument("--window", type=int, default=0,
                   help="throughput: unanswered chats per sender at most "
                        "(0: all at once)")
    p.add_argument("--smtp-workers", type=int, default=0,
                   help="tidingsd's [mail] smtp_workers (0: its default)")
    p.add_argument("--dovecot-reuse", choices=sorted(DOVECOT_REUSE),
                   default="none")
    p.add_argument("--skip", action="append", default=[],
                   choices=["latency", "external", "throughput"])
    p.add_argument("--json", metavar="FILE", help="also write the figures")
    p.add_argument("--dir", help="work here (kept) instead of a temp dir")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-secs", type=int, default=900,
                   help="give up (and clean up) after this long")
    args = p.parse_args()
    if not 1 <= args.users <= 100 or not 1 <= args.chats <= 10000 or \
            args.mails < 0 or args.external < 0 or args.window < 0:
        p.error("out-of-range count")
    work = args.dir or tempfile.mkdtemp(prefix="tidings-mailchat-")
    os.makedirs(work, exist_ok=True)

    def give_up(signum, frame):
        raise SystemExit("mailchat: stopped by signal %d" % signum)
    signal.signal(signal.SIGTERM, give_up)
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(args.max_secs)
    ms = MailchatStack(work, args)
    t = time.perf_counter()
    try:
        ms.start()
        print("stack up in %.2f s (work dir %s)" % (time.perf_counter() - t,
                                                   work), flush=True)
        results = asyncio.run(amain(args, ms))
    finally:
        ms.stop()
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
