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


def test_headers_to_cc(dv, tmp_path):
    # The copy a mail client appends to Sent: To with a group and
    # display names, Cc overlapping To, a duplicate.
    path = tmp_path / "m.eml"
    path.write_bytes(make_mail(
        "Bob <%s>" % BOB,
        "Carol <%s>, team: dave@example.org, \"Eve E.\" <eve@example.org>;"
        % CAROL, "Q3 figures", msgid="<sent1@example.org>",
        extra_headers=["Cc: frank@example.org,\r\n Carol <%s>, "
                       "frank@EXAMPLE.org" % CAROL]))
    res = probe(dv, "append", path, 0)
    assert res["error_class"] == "ok", res
    uidvalidity, uid = res["uidvalidity"], res["uid"]
    assert uid > 0, res
    res = probe(dv, "uid", "Sent", uidvalidity, uid)
    assert res["error_class"] == "ok" and res["found"], res
    assert res["message_id"] == "<sent1@example.org>", res
    assert res["to"] == [CAROL, "dave@example.org", "eve@example.org"], res
    assert res["cc"] == ["frank@example.org", CAROL], res
    assert res["reply_to"] == [], res


def imap_flags(dv, uid):
    im = dv.imap(BOB)
    im.select("INBOX", readonly=True)
    typ, data = im.uid("FETCH", str(uid), "(FLAGS)")
    im.logout()
    assert typ == "OK" and data[0] is not None, data
    return data[0]


def set_seen(dv, uid):
    """Bob's own IMAP session marks uid \\Seen in INBOX."""
    im = dv.imap(BOB)
    im.select("INBOX")
    typ, data = im.uid("STORE", str(uid), "+FLAGS", "(\\Seen)")
    assert typ == "OK", data
    im.logout()


def test_seen_by_msgid(dv):
    target = "<n1@example.org>"
    dv.deliver(BOB, make_mail(CAROL, BOB, "target", msgid=target))
    # Newer mails that Dovecot's HEADER search (a case-insensitive
    # substring match) also finds, both seen: the id inside a comment,
    # and in another case.
    dv.deliver(BOB, make_mail(CAROL, BOB, "comment",
                              msgid="(%s) <other1@example.org>" % target))
    dv.deliver(BOB, make_mail(CAROL, BOB, "case", msgid="<N1@example.ORG>"))
    set_seen(dv, 2)
    set_seen(dv, 3)
    im = dv.imap(BOB)
    im.select("INBOX", readonly=True)
    typ, data = im.uid("SEARCH", "HEADER", "Message-ID", target)
    im.logout()
    assert typ == "OK" and data[0].split() == [b"1", b"2", b"3"], data

    res = probe(dv, "seen", "INBOX", target)
    assert res["error_class"] == "ok" and res["found"], res
    assert res["uid"] == 1 and not res["seen"], res
    assert res["uidvalidity"] > 0, res
    # EXAMINE and BODY.PEEK: still unseen.
    assert b"\\Seen" not in imap_flags(dv, 1)

    set_seen(dv, 1)
    res = probe(dv, "seen", "INBOX", target)
    assert res["error_class"] == "ok" and res["found"], res
    assert res["uid"] == 1 and res["seen"], res

    # The id the comment hid is found on its own mail.
    res = probe(dv, "seen", "INBOX", "<other1@example.org>")
    assert res["found"] and res["uid"] == 2 and res["seen"], res

    # A second copy (delivered again, unseen): the newest decides.
    dv.deliver(BOB, make_mail(CAROL, BOB, "again", msgid=target))
    res = probe(dv, "seen", "INBOX", target)
    assert res["found"] and res["uid"] == 4 and not res["seen"], res

    res = probe(dv, "seen", "INBOX", "<n@example.org>")
    assert res["error_class"] == "ok" and not res["found"], res
    assert not res["seen"] and res["uid"] == 0, res
    res = probe(dv, "seen", "Nope", target)
    assert res["error_class"] == "no-mailbox", res
    res = probe(dv, "seen", "INBOX", "n1@example.org")
    assert res["error_class"] == "refused", res
    res = probe(dv, "seen", "INBOX", target, user="nobody@example.org")
    assert res["error_class"] == "no-user", res
