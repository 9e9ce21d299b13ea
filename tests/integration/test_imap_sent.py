"""ms_imap's APPEND-to-\\Sent and headers jobs against a real Dovecot.

Driven through tests/unit/imap/imap_jobs_probe (one job, JSON out), with
the test Dovecot of dovecot.py (a Sent mailbox with special_use = \\Sent;
no ACLs here: test_master_user.py runs the same jobs under the example's
ACLs).
"""

import imaplib
import json
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from dovecot import Dovecot, make_mail  # noqa: E402
import tidingsd as td  # noqa: E402

BOB = "bob@example.org"
CAROL = "carol@example.net"
DATE = 1706778000  # 2024-02-01 09:00:00 UTC


def probe(dv, *args, user=BOB):
    exe = os.path.join(td.build_dir(), "tests", "unit", "imap",
                       "imap_jobs_probe")
    out = subprocess.run([exe, "127.0.0.1", str(dv.imap_port),
                          dv.master_user, dv.master_password, user] +
                         [str(a) for a in args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def dv(tidingsd_binary, tmpdir_short):
    d = Dovecot(tmpdir_short, {BOB: "pw"})
    d.start()
    yield d
    d.stop()


def test_append_to_sent(dv, tmp_path):
    path = tmp_path / "m.eml"
    path.write_bytes(make_mail("Bob <%s>" % BOB, CAROL, "From chat",
                               msgid="<chat1@example.org>"))
    res = probe(dv, "append", path, DATE)
    assert res["error_class"] == "ok", res
    assert res["mailbox"] == "Sent", res
    im = dv.imap(BOB)
    typ, data = im.status("Sent", "(UIDVALIDITY MESSAGES)")
    assert b"MESSAGES 1" in data[0], data
    assert b"UIDVALIDITY %d" % res["uidvalidity"] in data[0], (data, res)
    im.select("Sent", readonly=True)
    typ, data = im.uid("FETCH", str(res["uid"]),
                       "(FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS "
                       "(MESSAGE-ID)])")
    assert typ == "OK" and data[0] is not None, data
    assert b"\\Seen" in data[0][0], data
    assert time.mktime(imaplib.Internaldate2tuple(data[0][0])) == DATE
    assert b"<chat1@example.org>" in data[0][1], data
    # INBOX is untouched.
    typ, data = im.status("INBOX", "(MESSAGES)")
    assert b"MESSAGES 0" in data[0], data
    im.logout()


def test_append_without_sent_mailbox(tidingsd_binary, tmpdir_short,
                                     tmp_path):
    # The namespace's Sent loses its special-use attribute.
    d = Dovecot(tmpdir_short, {BOB: "pw"}, extra_conf="""
namespace inbox {
  mailbox Sent {
    special_use =
  }
}
""")
    d.start()
    try:
        path = tmp_path / "m.eml"
        path.write_bytes(make_mail(BOB, CAROL, "x"))
        res = probe(d, "append", path, 0)
        assert res["error_class"] == "no-mailbox", res
        im = d.imap(BOB)
        typ, data = im.list()
        assert not any(b"\\Sent" in x for x in data), data
        for box in ("INBOX", "Sent"):
            typ, st = im.status(box, "(MESSAGES)")
            assert typ != "OK" or b"MESSAGES 0" in st[0], (box, st)
        im.logout()
    finally:
        d.stop()


def test_append_unknown_user(dv, tmp_path):
    path = tmp_path / "m.eml"
    path.write_bytes(make_mail(BOB, CAROL, "x"))
    res = probe(dv, "append", path, 0, user="nobody@example.org")
    assert res["error_class"] == "no-user", res


def test_headers_by_uid(dv):
    dv.deliver(BOB, make_mail(
        "=?utf-8?q?Carol_S=C3=A9?= <%s>" % CAROL, BOB,
        "=?utf-8?q?R=C3=A9union?=", msgid="<m1@example.net>",
        extra_headers=["In-Reply-To: <p0@example.org>",
                       "References: <r0@example.org> <p0@example.org>",
                       "Reply-To: team@example.net, %s" % CAROL]))
    im = dv.imap(BOB)
    typ, data = im.status("INBOX", "(UIDVALIDITY)")
    im.logout()
    uidvalidity = int(data[0].split(b"UIDVALIDITY ")[1].rstrip(b")"))
    res = probe(dv, "uid", "INBOX", uidvalidity, 1)
    assert res["error_class"] == "ok" and res["found"], res
    assert res["uid"] == 1 and res["uidvalidity"] == uidvalidity, res
    assert res["message_id"] == "<m1@example.net>", res
    assert res["in_reply_to"] == "<p0@example.org>", res
    assert res["references"] == "<r0@example.org> <p0@example.org>", res
    assert res["subject"] == "Réunion", res
    assert res["from_address"] == CAROL, res
    assert res["from_name"] == "Carol Sé", res
    assert res["reply_to"] == ["team@example.net", CAROL], res
    assert res["date"] > 0 and not res["automatic"], res
    # Another UIDVALIDITY: not found.
    res = probe(dv, "uid", "INBOX", uidvalidity + 1, 1)
    assert res["error_class"] == "ok" and not res["found"], res
    # No such mailbox.
    res = probe(dv, "uid", "Nope", uidvalidity, 1)
    assert res["error_class"] == "no-mailbox", res
    # BODY.PEEK: still unseen.
    im = dv.imap(BOB)
    im.select("INBOX", readonly=True)
    typ, data = im.uid("FETCH", "1", "(FLAGS)")
    assert b"\\Seen" not in data[0], data
    im.logout()


def test_headers_newest_from(dv):
    since = int(time.time()) - 5
    dv.deliver(BOB, make_mail(CAROL, BOB, "first", msgid="<c1@x.net>"))
    dv.deliver(BOB, make_mail("Carol <%s>" % CAROL, BOB, "second",
                              msgid="<c2@x.net>"))
    # Matches FROM as a substring, but is someone else.
    dv.deliver(BOB, make_mail("x <%s.evil.example>" % CAROL, BOB, "third",
                              msgid="<c3@x.net>"))
    # A bounce from another sender.
    dv.deliver(BOB, make_mail("MAILER-DAEMON@example.net", BOB, "bounce",
                              extra_headers=["Auto-Submitted: auto-replied"]),
               sender="")
    res = probe(dv, "search", "INBOX", CAROL, since)
    assert res["error_class"] == "ok" and res["found"], res
    assert res["uid"] == 2 and res["message_id"] == "<c2@x.net>", res
    assert res["subject"] == "second", res
    res = probe(dv, "search", "INBOX", "MAILER-DAEMON@example.net", since)
    assert res["found"] and res["automatic"], res
    # Local parts are case-sensitive (ms_addr_equal): another address.
    res = probe(dv, "search", "INBOX", "mailer-daemon@example.net", since)
    assert res["error_class"] == "ok" and not res["found"], res
    # Nothing delivered since then.
    res = probe(dv, "search", "INBOX", CAROL, int(time.time()) + 3600)
    assert res["error_class"] == "ok" and not res["found"], res
    res = probe(dv, "search", "INBOX", "dave@example.net", since)
    assert res["error_class"] == "ok" and not res["found"], res
