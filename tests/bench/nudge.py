#!/usr/bin/python3
"""tidings nudge and read-receipt benchmark (issue 8): figures, not
pass/fail.

See tests/bench/README.md ("Nudges and read receipts"). Starts real
Dovecot, Prosody and tidingsd (tests/integration/stack.py, no Postfix) in
a temporary directory on free loopback ports, logs in alice and bob with
the integration suite's client (tests/integration/xmppclient.py, which
stamps every message with time.monotonic() when it arrives), and per
round, one at a time, with a unique subject:

  alice's mail is delivered to bob over LMTP (not timed), then
1. alice's own IMAP session appends her copy to Sent -> the offer
   (<sent-mail xmlns='urn:x-tidings:mail:0'>) read by alice;
2. alice chats `nudge` to the Mail contact -> the <nudge> read by bob,
   from alice's bare JID;
3. bob's own IMAP session stores +FLAGS \\Seen on his copy -> the <read>
   receipt read by alice.

Every wait is bounded, everything binds 127.0.0.1, and every process
started here is stopped on exit.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from bench import (build_options, fmt_ms, proc_cpu_secs,  # noqa: E402
                   proc_mem_kb, summary_ms)

NS = "urn:x-tidings:mail:0"
DOMAIN = "example.org"
PASSWORD = "bench-pw"
PAIR_LIMIT = 1000  # the highest [notify] nudge_pair_limit: never limits

FIGURES = [
    ("offer", "1. Sent append -> offer read by the sender"),
    ("nudge", "2. 'nudge' sent -> nudge read by the recipient"),
    ("read", "3. STORE +FLAGS \\Seen -> receipt read by the sender"),
]
# Context, printed after the figures: when the IMAP command's OK came.
IMAP_OK = [
    ("append_ok", "   (APPEND sent -> its OK read)"),
    ("store_ok", "   (STORE sent -> its OK read)"),
]


def child(n, name):
    """The <name xmlns=NS/> element of a received message, or None."""
    if n is None or n.xml is None:
        return None
    return ET.fromstring(n.xml).find("{%s}%s" % (NS, name))


def has(n, name, key, value):
    el = child(n, name)
    return el is not None and el.findtext("{%s}%s" % (NS, key)) == value


class Bench:
    def __init__(self, args, st):
        self.args, self.st = args, st
        self.alice = self.bob = None
        self.im_alice = self.im_bob = None
        b = build_options()
        self.results = {"config": {
            "rounds": args.rounds, "warmup": args.warmup,
            "timeout": args.timeout, "nudge_pair_limit": PAIR_LIMIT,
            "cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg(),
            "build": b, "wrapper": os.environ.get("TIDINGS_WRAPPER", "")}}

    def log(self, msg):
        print(msg, flush=True)

    def wait(self, client, start, t0, pred):
        """Seconds from t0 to the arrival of the first message from index
        start on that satisfies pred, or None after --timeout."""
        n = client.wait_for_message(pred, self.args.timeout, start)
        return None if n is None else n.received - t0

    def setup(self):
        st = self.st
        self.alice = st.client("alice")
        self.bob = st.client("bob")
        # alice's and bob's mail clients: one IMAP session each.
        self.im_alice = st.dovecot.imap(st.addr("alice"))
        self.im_bob = st.dovecot.imap(st.addr("bob"))
        typ, _ = self.im_bob.select("INBOX")
        assert typ == "OK"
        time.sleep(1.0)  # the presences reach tidingsd

    def one(self, subject):
        """One round; {figure: seconds or None}."""
        from stack import make_mail
        st, alice, bob = self.st, self.alice, self.bob
        frm, to = st.addr("alice"), st.addr("bob")
        comp = st.component
        msg = make_mail(frm, to, subject, "Benchmark mail.\n")
        mid = [line for line in msg.split(b"\r\n")
               if line.startswith(b"Message-ID: ")][0][12:].decode()
        st.deliver(to, msg, frm)
        out = {}

        # 1. Sent append -> offer.
        start = len(alice.messages)
        t0 = time.monotonic()
        typ, _ = self.im_alice.append("Sent", "(\\Seen)", None, msg)
        out["append_ok"] = time.monotonic() - t0
        if typ != "OK":
            raise RuntimeError("APPEND: %s" % typ)
        out["offer"] = self.wait(
            alice, start, t0, lambda x: x.frm.split("/")[0] == comp and
            has(x, "sent-mail", "subject", subject))

        # 2. `nudge` -> the nudge at bob, from alice's bare JID.
        start_b, start_a = len(bob.messages), len(alice.messages)
        t0 = time.monotonic()
        alice.send_chat(comp, "nudge")
        out["nudge"] = self.wait(
            bob, start_b, t0, lambda x: x.frm == st.jid("alice") and
            has(x, "nudge", "message-id", mid))
        # alice's "Nudged bob ..." (not timed): the round is over.
        alice.wait_for_message(
            lambda x: x.frm.split("/")[0] == comp and x.body is not None
            and x.body.startswith("Nudged") and subject in x.body,
            self.args.timeout, start_a)

        # 3. bob's client marks his copy read -> the receipt at alice.
        # NOOP first: the session learns of the delivery (not timed).
        self.im_bob.noop()
        typ, data = self.im_bob.uid("SEARCH", "HEADER", "Message-ID", mid)
        uids = data[0].split() if typ == "OK" and data[0] else []
        if not uids:
            raise RuntimeError("bob has no copy of %s" % mid)
        start = len(alice.messages)
        t0 = time.monotonic()
        typ, _ = self.im_bob.uid("STORE", uids[-1], "+FLAGS", "(\\Seen)")
        out["store_ok"] = time.monotonic() - t0
        if typ != "OK":
            raise RuntimeError("STORE: %s" % typ)
        out["read"] = self.wait(
            alice, start, t0, lambda x: x.frm.split("/")[0] == comp and
            has(x, "read", "message-id", mid))
        return out

    def run(self):
        a = self.args
        for i in range(a.warmup):
            self.one("nudgebench warm-up %d-%d" % (a.seed, i))
        td = self.st.tidingsd.pid
        cpu0, mem0 = proc_cpu_secs(td), proc_mem_kb(td)
        rows = [self.one("nudgebench %d-%05d" % (a.seed, i))
                for i in range(a.rounds)]
        cpu1, mem1 = proc_cpu_secs(td), proc_mem_kb(td)
        self.log("\n%d rounds one at a time, alice -> bob (%d warm-up "
                 "rounds not counted); time.monotonic() before the "
                 "action -> the client read the stanza" % (a.rounds,
                                                          a.warmup))
        for k, label in FIGURES + IMAP_OK:
            vals = [r[k] for r in rows if r.get(k) is not None]
            s = summary_ms(vals)
            s["missing"] = len(rows) - len(vals)
            self.results[k] = s
            self.log("%-55s %s%s" % (label, fmt_ms(s), "  MISSING %d"
                                     % s["missing"] if s["missing"]
                                     else ""))
        if cpu0 is not None and cpu1 is not None and a.rounds:
            self.results["tidingsd_cpu_us_per_round"] = \
                1e6 * (cpu1 - cpu0) / a.rounds
            self.log("tidingsd CPU %.0f us per round (delivery "
                     "notification, offer, nudge, receipt)"
                     % self.results["tidingsd_cpu_us_per_round"])
        self.results["tidingsd_rss_kb_before"] = mem0
        self.results["tidingsd_rss_kb_after"] = mem1
        self.log("tidingsd VmRSS %s -> %s kB, VmHWM %s kB" % (
            mem0.get("VmRSS"), mem1.get("VmRSS"), mem1.get("VmHWM")))

    def close(self):
        for im in (self.im_alice, self.im_bob):
            if im is not None:
                try:
                    im.logout()
                except Exception:
                    pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", "-n", type=int, default=50,
                   help="measured rounds (default 50)")
    p.add_argument("--warmup", type=int, default=2,
                   help="rounds before, not counted (default 2)")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds to wait for each stanza (default 10)")
    p.add_argument("--json", metavar="FILE", help="also write the figures")
    p.add_argument("--dir", help="work here (kept) instead of a temp dir")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-secs", type=int, default=600,
                   help="give up (and clean up) after this long")
    args = p.parse_args()
    if not 1 <= args.rounds <= 100000 or args.warmup < 0:
        p.error("out-of-range count")
    work = args.dir or tempfile.mkdtemp(prefix="tidings-nudge-")
    os.makedirs(work, exist_ok=True)

    def give_up(signum, frame):
        raise SystemExit("nudge: stopped by signal %d" % signum)
    signal.signal(signal.SIGTERM, give_up)
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(args.max_secs)
    from stack import Stack
    st = Stack(os.path.join(work, "stack"), domain=DOMAIN,
               users={"alice": PASSWORD, "bob": PASSWORD},
               notify={"burst_max": "1000",
                       "nudge_pair_limit": str(PAIR_LIMIT)},
               log={"level": "info"})
    t = time.monotonic()
    b = None
    try:
        b = Bench(args, st)
        cfg = b.results["config"]
        bt = cfg["build"].get("buildtype", "unknown")
        san = cfg["build"].get("b_sanitize", "none")
        b.log("tidingsd build: buildtype %s, b_sanitize %s%s" % (
            bt, san, ", wrapper %s" % cfg["wrapper"] if cfg["wrapper"]
            else ""))
        if cfg["wrapper"] or san != "none" or bt in ("debug", "plain"):
            b.log("WARNING: tidingsd runs %s (build %s): its figures are "
                  "not representative" % (cfg["wrapper"] or "unwrapped",
                                          cfg["build"]))
        b.log("[notify] nudge_pair_limit = %d, burst_max = 1000 for this "
              "bench; nudge setting: the default, offer" % PAIR_LIMIT)
        st.start()
        b.log("stack up in %.2f s (work dir %s)" % (time.monotonic() - t,
                                                   work))
        b.setup()
        b.run()
    finally:
        if b is not None:
            b.close()
        st.stop()
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    results = b.results
    results["total_secs"] = time.monotonic() - t
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
