"""The IMAP worker pool (mailstore/ms_imap.c) against a real Dovecot.

Mails go in over LMTP; imap_probe (built by meson from tests/unit/imap/,
found under $TIDINGS_BUILD, default /work/main/build) runs ms_imap_scan as
the Dovecot master user and prints JSON, which is checked field by field.
Also checks the Lua push driver end to end when examples/dovecot/
tidings-push.lua exists. Run as root: /usr/bin/python3 -m pytest -v FILE.
"""

import json
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dovecot import (PUSH_SCRIPT, DatagramListener, Dovecot,  # noqa: E402
                     delivery_latency, make_mail)

BUILD = os.environ.get("TIDINGS_BUILD", "/work/main/build")
PROBE = os.path.join(BUILD, "tests", "unit", "imap", "imap_probe")
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
    """Run imap_probe; return its parsed JSON."""
    if not os.path.exists(PROBE):
        pytest.fail("imap_probe not built: %s (set TIDINGS_BUILD, run "
                    "ninja -C <build> tests/unit/imap/imap_probe)" % PROBE)
    args = [PROBE] + [str(o) for o in opts] + [
        "127.0.0.1", str(dv.imap_port), dv.master_user, master_password]
    out = subprocess.run(args + list(users), capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


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
    assert bad["error"].startswith("LOGIN as nobody@example.org*tidings "
                                   "failed:")
    assert bad["msgs"] == [] and bad["uidnext"] == 0
    assert good["error"] is None and good["msgs"] == EXPECTED[3:]
    r = probe(dv, [ALICE], "-m", "NoSuchBox")["results"][0]
    assert r["error"].startswith("STATUS failed:")
    assert "NoSuchBox" in r["error"] or "exist" in r["error"]


def test_wrong_master_password(dv):
    r = probe(dv, [ALICE], master_password="wrong")["results"][0]
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
    out = subprocess.run([PROBE, "-t", "2000", "127.0.0.1", str(port), "m",
                          "pw", ALICE], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0
    r = json.loads(out.stdout)["results"][0]
    assert r["error"] == "connect to 127.0.0.1 port %d: Connection refused" \
        % port


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
