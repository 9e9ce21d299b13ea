"""The IMAP worker pool (mailstore/ms_imap*.c) against a real Dovecot and
against a fault-injecting fake server (fakeimap.py).

Mails go in over LMTP; imap_probe (built by meson from tests/unit/imap/,
found under $TIDINGS_BUILD, default /work/main/build) runs ms_imap_scan as
the Dovecot master user and prints JSON, which is checked field by field.
Against the fake, each misbehaviour must end in the right error class (or
sane data) within bounded time, and the probe must exit 0: under an ASan
build (-Db_sanitize=address,undefined) that also means no leak and no
memory error. Also checks the Lua push driver end to end when
examples/dovecot/tidings-push.lua exists. Run as root:
/usr/bin/python3 -m pytest -v FILE.
"""

import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dovecot import (PUSH_SCRIPT, DatagramListener, Dovecot,  # noqa: E402
                     delivery_latency, make_mail)
from fakeimap import FakeImap, Server, run_probe  # noqa: E402

ALICE = "alice@example.org"
BOB = "bob@example.org"
MASTER_PW = "master-secret-7"

# (From, Subject, Date, Message-ID) and what the scan must report for each.
MAILS = [
    ("=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.net>",
     "=?iso-8859-1?q?Gr=FC=DFe_aus_K=F6ln?=",
     "Tue, 01 Jun 2021 12:34:56 +0200", "<m1@example.net>"),
    ("plain@example.net", "Plain subject",
     "Wed, 02 Jun 2021 00:00:00 -0730", "<m2@example.net>"),
    ("\"Zoë Raw\" <zoe@example.net>", "Raw UTF-8 subject: ça va",
     "Thu, 03 Jun 2021 23:59:59 +0000", "<m3@example.net>"),
    ("Eve <eve@example.net>",
     "=?utf-8?b?8J+YgA==?= mixed =?koi8-r?b?8NLJ18XU?=",
     "Fri, 04 Jun 2021 08:00:00 GMT", "<m4@example.net>"),
]
EXPECTED = [
    {"uid": 1, "from_name": "Jörg Müller", "from_address": "joerg@example.net",
     "subject": "Grüße aus Köln", "date": 1622543696,
     "message_id": "<m1@example.net>", "seen": False},
    {"uid": 2, "from_name": None, "from_address": "plain@example.net",
     "subject": "Plain subject", "date": 1622619000,
     "message_id": "<m2@example.net>", "seen": True},
    {"uid": 3, "from_name": "Zoë Raw", "from_address": "zoe@example.net",
     "subject": "Raw UTF-8 subject: ça va", "date": 1622764799,
     "message_id": "<m3@example.net>", "seen": False},
    {"uid": 4, "from_name": "Eve", "from_address": "eve@example.net",
     "subject": "😀 mixed Привет", "date": 1622793600,
     "message_id": "<m4@example.net>", "seen": False},
]


def probe(dv, users, *opts, master_password=MASTER_PW, timeout=60):
    """Run imap_probe against dv; return its parsed JSON.

    Each message's "received" (INTERNALDATE: the delivery in this run) is
    checked to be recent and then dropped, so that results compare with
    EXPECTED.
    """
    out, _ = run_probe("127.0.0.1", dv.imap_port, users, *opts,
                       master_user=dv.master_user,
                       master_password=master_password, timeout=timeout)
    now = time.time()
    for r in out["results"]:
        for m in r.get("msgs", []):
            assert now - 3600 < m.pop("received") <= now + 60
    return out


def uidvalidity(dv, user):
    im = dv.imap(user)
    typ, data = im.status("INBOX", "(UIDVALIDITY)")
    im.logout()
    assert typ == "OK"
    return int(data[0].split(b"UIDVALIDITY ")[1].rstrip(b")"))


@pytest.fixture(scope="module")
def dv(tmp_path_factory):
    users = {ALICE: "alice-pw", BOB: "bob-pw"}
    users.update({"u%d@example.org" % i: "pw%d" % i for i in range(8)})
    d = Dovecot(tmp_path_factory.mktemp("imap"), users,
                master_user="tidings", master_password=MASTER_PW)
    d.start()
    for frm, subj, date, msgid in MAILS:
        d.deliver(ALICE, make_mail(frm, ALICE, subj, date=date, msgid=msgid))
    im = d.imap(ALICE)
    im.select("INBOX")
    typ, _ = im.uid("STORE", "2", "+FLAGS", "(\\Seen)")
    assert typ == "OK"
    im.logout()
    for i in range(8):
        u = "u%d@example.org" % i
        for j in range(i + 1):
            d.deliver(u, make_mail("x@example.net", u, "mail %d" % j))
    yield d
    d.stop()


def check_status(r, dv, user, messages, unseen):
    assert r["error"] is None
    assert r["user"] == user
    assert r["uidvalidity"] == uidvalidity(dv, user)
    assert r["uidnext"] == messages + 1
    assert r["messages"] == messages
    assert r["unseen"] == unseen


def test_scan_all_fields(dv):
    out = probe(dv, [ALICE], "-f", 1, "-n", 10)
    r = out["results"][0]
    check_status(r, dv, ALICE, 4, 3)
    assert r["range_count"] == 4
    assert r["msgs"] == EXPECTED


def test_keeps_newest_max_msgs(dv):
    r = probe(dv, [ALICE], "-f", 2, "-n", 2)["results"][0]
    assert r["range_count"] == 3
    assert [m["uid"] for m in r["msgs"]] == [3, 4]
    assert r["msgs"] == EXPECTED[2:]


def test_status_only(dv):
    r = probe(dv, [ALICE])["results"][0]  # from_uid 0: STATUS only
    check_status(r, dv, ALICE, 4, 3)
    assert r["range_count"] == 0 and r["msgs"] == []


def test_count_only(dv):
    r = probe(dv, [ALICE], "-f", 1, "-n", 0)["results"][0]
    assert r["range_count"] == 4 and r["msgs"] == []


def test_from_beyond_last_uid(dv):
    # UID 5:* matches the last message (UID 4) on the wire: filtered.
    r = probe(dv, [ALICE], "-f", 5, "-n", 10)["results"][0]
    check_status(r, dv, ALICE, 4, 3)
    assert r["range_count"] == 0 and r["msgs"] == []


def test_to_uid(dv):
    r = probe(dv, [ALICE], "-f", 2, "-T", 3, "-n", 10)["results"][0]
    assert r["range_count"] == 2
    assert [m["uid"] for m in r["msgs"]] == [2, 3]


def test_uidvalidity_matches_and_mismatches(dv):
    uv = uidvalidity(dv, ALICE)
    r = probe(dv, [ALICE], "-v", uv, "-f", 4)["results"][0]
    assert r["range_count"] == 1 and r["msgs"] == EXPECTED[3:]
    r = probe(dv, [ALICE], "-v", uv + 1, "-f", 1)["results"][0]
    check_status(r, dv, ALICE, 4, 3)
    assert r["range_count"] == 0 and r["msgs"] == []


def test_empty_mailbox(dv):
    r = probe(dv, [BOB], "-f", 1)["results"][0]
    check_status(r, dv, BOB, 0, 0)
    assert r["range_count"] == 0 and r["msgs"] == []


def test_errors_are_per_job(dv):
    out = probe(dv, ["nobody@example.org", ALICE], "-f", 1, "-n", 1)
    bad, good = out["results"]
    # Dovecot: "NO [AUTHORIZATIONFAILED] Authorization failed".
    assert bad["error_class"] == "no-user"
    assert bad["error"].startswith("LOGIN as nobody@example.org*tidings "
                                   "failed: [AUTHORIZATIONFAILED]")
    assert bad["msgs"] == [] and bad["uidnext"] == 0
    assert good["error"] is None and good["msgs"] == EXPECTED[3:]
    assert good["error_class"] == "ok"
    r = probe(dv, [ALICE], "-m", "NoSuchBox")["results"][0]
    assert r["error_class"] == "no-mailbox"
    assert r["error"].startswith("STATUS failed:")
    assert "NoSuchBox" in r["error"] or "exist" in r["error"]


def test_wrong_master_password(dv):
    r = probe(dv, [ALICE], master_password="wrong")["results"][0]
    assert r["error_class"] == "auth"
    assert r["error"].startswith("LOGIN as alice@example.org*tidings failed")
    assert "wrong" not in r["error"]


def test_many_users_two_workers(dv):
    users = ["u%d@example.org" % i for i in range(8)]
    out = probe(dv, users, "-w", 2, "-f", 1, "-n", 3)
    assert [r["user"] for r in out["results"]] == users
    for i, r in enumerate(out["results"]):
        check_status(r, dv, users[i], i + 1, i + 1)
        assert r["range_count"] == i + 1
        want = list(range(max(1, i - 1), i + 2))
        assert [m["uid"] for m in r["msgs"]] == want
        assert [m["subject"] for m in r["msgs"]] == \
            ["mail %d" % (u - 1) for u in want]


def test_connection_refused(dv, tmp_path):
    from dovecot import free_port
    port = free_port()
    out, _ = run_probe("127.0.0.1", port, [ALICE], "-t", 2000,
                       master_user="m", master_password="pw", timeout=30)
    r = out["results"][0]
    assert r["error"] == "connect to 127.0.0.1 port %d: Connection refused" \
        % port
    assert r["error_class"] == "temp"


def test_queue_full(dv):
    users = ["u%d@example.org" % i for i in range(4)]
    out = probe(dv, users, "-w", 1, "-q", 2, "-f", 1, "-n", 1)
    got = [(r["user"], r["error_class"]) for r in out["results"]]
    assert got == [(users[0], "ok"), (users[1], "ok"),
                   (users[2], "refused"), (users[3], "refused")]


@pytest.fixture
def push_dv(tmp_path):
    if not os.path.exists(PUSH_SCRIPT):
        pytest.skip("examples/dovecot/tidings-push.lua not written yet")
    sock = os.path.join(str(tmp_path), "events.sock")
    d = Dovecot(tmp_path, {ALICE: "pw"}, push_socket=sock)
    d.start()
    yield d
    d.stop()


def test_push_datagram_on_lmtp(push_dv):
    listener = DatagramListener(push_dv.push_socket)
    try:
        push_dv.deliver(ALICE, make_mail(MAILS[0][0], ALICE, MAILS[0][1],
                                         date=MAILS[0][2], msgid="<p1@x>"))
        got = listener.wait(1, 5.0)
        time.sleep(0.2)
        got = list(listener.datagrams)
    finally:
        listener.close()
    assert len(got) == 1, push_dv.log_tail()
    ev = json.loads(got[0])
    assert ev["event"] == "MessageNew"
    assert ev["user"] == ALICE
    assert ev["mailbox"] == "INBOX"
    assert ev["uid"] == 1
    assert ev["uidvalidity"] == uidvalidity(push_dv, ALICE)
    assert ev["message_id"] == "<p1@x>"
    assert ev["subject"] == "Grüße aus Köln"


def test_push_nobody_listening_still_delivers(push_dv):
    # tidingsd down: the socket does not exist; delivery must not fail.
    times = delivery_latency(push_dv, ALICE, n=20)
    assert times["n"] == 20
    im = push_dv.imap(ALICE)
    typ, data = im.status("INBOX", "(MESSAGES)")
    im.logout()
    assert data[0].endswith(b"(MESSAGES 20)")
    assert "Error" not in push_dv.log(), push_dv.log_tail()


# -- a hostile or broken server (fakeimap.py) -------------------------------

MB = 1 << 20


def fault(behaviour, *opts, timeout_ms=2000, users=(ALICE,), expect_class,
          expect_text=None, max_secs=None):
    """One scan (-f 1) against a fake server behaving as `behaviour`.

    Checks the error class, a piece of the error text, that the probe took
    less than max_secs (default: the job's bound, 4 timeouts, plus slack)
    and that the fake saw no exception. Returns (result, fake).
    """
    with FakeImap([behaviour]) as fake:
        out, secs = run_probe("127.0.0.1", fake.port, users, "-t",
                              timeout_ms, "-f", 1, "-n", 10, *opts)
    assert not fake.errors, fake.errors
    r = out["results"][0]
    assert r["error_class"] == expect_class, r
    if expect_text is not None:
        assert expect_text in r["error"], r["error"]
    if expect_class != "ok":
        assert r["msgs"] == [] and r["uidnext"] == 0
    limit = max_secs if max_secs is not None else 4 * timeout_ms / 1000 + 3
    assert secs < limit, "took %.1f s" % secs
    return r, fake


def test_fake_sane(dv):
    # The fake itself is a correct server: everything arrives.
    r, fake = fault(Server(), expect_class="ok")
    assert (r["uidvalidity"], r["uidnext"], r["messages"], r["unseen"]) == \
        (42, 4, 3, 2)
    assert r["range_count"] == 3
    assert [(m["uid"], m["subject"], m["from_name"], m["from_address"],
             m["seen"], m["date"], m["received"], m["message_id"])
            for m in r["msgs"]] == [
        (u, "mail %d" % u, "Sender %d" % u, "s%d@example.net" % u,
         u % 2 == 0, 1622543696, 1622543696, "<%d@fake>" % u)
        for u in (1, 2, 3)]
    assert [c for _, c in fake.commands()] == [
        b"LOGIN", b"STATUS", b"EXAMINE", b"UID SEARCH", b"UID FETCH",
        b"LOGOUT"]


class StatusWithoutData(Server):
    def on_status(self, c, tag, args):
        c.send(tag + b" OK Status completed.\r\n")


def test_status_ok_without_data(dv):
    # libetpan returns success and a NULL result: once a crash.
    fault(StatusWithoutData(), expect_class="temp",
          expect_text="STATUS: the server sent no STATUS data")


class ByeInFetch(Server):
    def uid_fetch(self, c, tag, rest):
        c.send(self.fetch_line(1, 1) + b"* BYE Server shutting down\r\n")
        return False


def test_bye_in_fetch(dv):
    fault(ByeInFetch(), expect_class="temp",
          expect_text="UID FETCH: connection closed by the server after "
                      "BYE: Server shutting down")


class TruncatedLiteral(Server):
    def uid_fetch(self, c, tag, rest):
        c.send(b'* 1 FETCH (UID 1 ENVELOPE ("date" {100}\r\n0123456789')
        return False


def test_truncated_literal(dv):
    # libetpan reads a literal cut short by EOF forever (0 bytes read is
    # not an error to it): the stream turns EOF into an error.
    fault(TruncatedLiteral(), expect_class="temp",
          expect_text="UID FETCH: connection closed by the server")


class HugeLiteral(Server):
    def __init__(self, size, send_data):
        self.size = size
        self.send_data = send_data

    def uid_fetch(self, c, tag, rest):
        c.send(b'* 1 FETCH (UID 1 ENVELOPE ("date" {%d}\r\n' % self.size)
        chunk = b"x" * 65536
        sent = 0
        while self.send_data and sent < self.size and c.send(chunk):
            sent += len(chunk)
        return False


@pytest.mark.parametrize("size,send_data", [(4294967295, False),
                                            (99999999999, False),
                                            (50 * MB, True)])
def test_huge_literal(dv, size, send_data):
    # Refused before libetpan sees the announcement (it would allocate
    # that much at once; 99999999999 wraps around in its uint32_t).
    fault(HugeLiteral(size, send_data), expect_class="temp",
          expect_text="server announced a literal of %d bytes (limit "
                      "1048576)" % size)


class EndlessLine(Server):
    def on_status(self, c, tag, args):
        c.send(b"* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 3) ")
        chunk = b"A" * 65536
        for _ in range(40 * MB // len(chunk)):
            if not c.send(chunk):
                break
        return False


def test_endless_line(dv):
    fault(EndlessLine(), expect_class="temp",
          expect_text="STATUS: server sent more than 16777216 bytes")


class Garbage(Server):
    def __init__(self, data):
        self.data = data

    def on_status(self, c, tag, args):
        c.send(self.data)


@pytest.mark.parametrize("data", [
    b"HTTP/1.1 400 Bad Request\r\n\r\n",
    b"\x00\xff\x16\x03\x01 garbage \x00\r\n",
    b"* STATUS INBOX (MESSAGES x)\r\n"])
def test_garbage(dv, data):
    fault(Garbage(data), expect_class="temp",
          expect_text="STATUS: unparsable server response")


class Silent(Server):
    def __init__(self, greet=True):
        self.greet = greet

    def serve(self, c):
        if self.greet:
            c.send(self.greeting)
        c.readline()  # and never a word back
        while c.readline() is not None:
            pass


@pytest.mark.parametrize("greet,what", [(False, "greeting"),
                                        (True, "LOGIN as")])
def test_silence(dv, greet, what):
    r, _ = fault(Silent(greet), timeout_ms=1000, expect_class="temp",
                 expect_text="timed out after 1000 ms", max_secs=3.5)
    assert r["error"].startswith(what)


class DripFeed(Server):
    def on_status(self, c, tag, args):
        # A byte every 0.3 s: each read succeeds, the job never ends.
        for ch in b"* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 3)":
            if not c.send(bytes([ch])):
                return False
            time.sleep(0.3)
        return False


def test_drip_feed_hits_the_job_deadline(dv):
    fault(DripFeed(), timeout_ms=1000, expect_class="temp",
          expect_text="the job took longer than 4000 ms", max_secs=6)


class Preauth(Server):
    greeting = b"* PREAUTH [CAPABILITY IMAP4rev1] welcome, whoever\r\n"


class ByeGreeting(Server):
    greeting = b"* BYE Too many connections\r\n"


def test_greetings(dv):
    _, fake = fault(Preauth(), expect_class="temp",
                    expect_text="greeted with PREAUTH; refusing")
    assert fake.commands() == []
    _, fake = fault(ByeGreeting(), expect_class="temp",
                    expect_text="refused the connection: BYE Too many "
                                "connections")
    assert fake.commands() == []


TOP = 2 ** 32 - 1


class EdgeUids(Server):
    """UIDNEXT at the very top, answers that repeat, skip and overshoot."""

    uidvalidity = 7
    uidnext = TOP
    uids = (17, TOP - 5, TOP - 3, TOP - 1)
    unseen = 4

    def uid_search(self, c, tag, rest):
        # Out of range, a duplicate, and UID 4294967295 (>= UIDNEXT).
        c.send(b"* SEARCH 17 %d %d %d %d %d\r\n%s OK done\r\n"
               % (TOP - 5, TOP - 3, TOP - 1, TOP - 1, TOP, tag))

    def uid_fetch(self, c, tag, rest):
        lines = [self.fetch_line(2, TOP - 5),
                 b"* 3 FETCH (FLAGS (\\Seen))\r\n",      # no UID
                 self.fetch_line(3, TOP - 3),
                 self.fetch_line(3, TOP - 3),             # again
                 self.fetch_line(5, TOP),                 # not asked for
                 self.fetch_line(1, 17),                  # not asked for
                 self.fetch_line(4, TOP - 1)]
        c.send(b"".join(lines) + tag + b" OK done\r\n")


def test_uids_at_the_top(dv):
    r, fake = fault(EdgeUids(), "-f", TOP - 5, expect_class="ok")
    assert (r["uidvalidity"], r["uidnext"]) == (7, TOP)
    assert r["range_count"] == 3
    assert [m["uid"] for m in r["msgs"]] == [TOP - 5, TOP - 3, TOP - 1]
    assert [m["subject"] for m in r["msgs"]] == \
        ["mail %d" % u for u in (TOP - 5, TOP - 3, TOP - 1)]
    # "from:to" with to = UIDNEXT - 1, never "n:*".
    r, fake = fault(EdgeUids(), "-f", TOP - 3, "-T", TOP, "-n", 1,
                    expect_class="ok")
    assert r["range_count"] == 2 and [m["uid"] for m in r["msgs"]] == \
        [TOP - 1]
    # Nothing can be at or above UIDNEXT: no EXAMINE at all.
    r, fake = fault(EdgeUids(), "-f", TOP, expect_class="ok")
    assert r["range_count"] == 0 and r["msgs"] == []
    assert [c for _, c in fake.commands()] == [b"LOGIN", b"STATUS",
                                               b"LOGOUT"]
    # from > to: an empty range.
    r, fake = fault(EdgeUids(), "-f", 100, "-T", 50, expect_class="ok")
    assert r["range_count"] == 0
    assert b"EXAMINE" not in [c for _, c in fake.commands()]


class AbsurdStatus(Server):
    def __init__(self, numbers):
        self.numbers = numbers

    def on_status(self, c, tag, args):
        c.send(b"* STATUS INBOX (%s)\r\n%s OK done\r\n"
               % (self.numbers, tag))


def test_absurd_status(dv):
    r, _ = fault(AbsurdStatus(b"MESSAGES 4294967295 UNSEEN 4294967295 "
                              b"UIDNEXT 10 UIDVALIDITY 4294967295"),
                 "-f", 0, expect_class="ok")
    # Never more messages than UIDs below UIDNEXT, nor unseen than those.
    assert (r["uidvalidity"], r["uidnext"], r["messages"], r["unseen"]) == \
        (TOP, 10, 9, 9)
    fault(AbsurdStatus(b"MESSAGES 5 UIDNEXT 0 UIDVALIDITY 9"),
          expect_class="temp", expect_text="no valid UIDVALIDITY and UIDNEXT")
    fault(AbsurdStatus(b"MESSAGES 5 UIDNEXT 6"), expect_class="temp",
          expect_text="no valid UIDVALIDITY and UIDNEXT")


class ManyUids(Server):
    uidnext = 300001
    uids = range(1, 300001)
    unseen = 0

    def messages(self):
        return 300000


def test_many_uids(dv):
    r, _ = fault(ManyUids(), "-n", 3, expect_class="ok", max_secs=30)
    assert r["range_count"] == 300000
    assert [m["uid"] for m in r["msgs"]] == [299998, 299999, 300000]
