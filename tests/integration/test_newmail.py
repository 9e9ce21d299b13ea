"""New mail reaches the user's XMPP client: real Dovecot, Prosody, tidingsd.

Mail is delivered over LMTP; bob (and carol) are real slixmpp clients
logged in with their Dovecot passwords.
"""

import base64
import smtplib
import time

from stack import make_mail
from tidingsd import SLOW

NOTIFY_SINGLES = {"burst_max": 1000, "burst_window": "1s"}


def mail_notices(client):
    return [n for n in client.messages if n.mail is not None]


def uidvalidity(st, user):
    m = st.dovecot.imap_master(st.addr(user))
    try:
        typ, data = m.status("INBOX", "(UIDVALIDITY)")
        assert typ == "OK", data
        text = data[0].decode()
        return int(text.split("UIDVALIDITY")[1].strip(" )"))
    finally:
        m.logout()


def assert_clean(text, max_bytes):
    """Text that reached the client: no C0 controls except newline, no
    DEL, no NUL, and at most max_bytes of UTF-8."""
    bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or c == "\x7f"]
    assert bad == [], "control characters in %r" % text
    assert len(text.encode("utf-8")) <= max_bytes, len(text.encode())


def test_single_notification_and_latency(make_stack):
    st = make_stack()
    bob = st.client("bob")
    msg = make_mail("Alice Example <alice@example.org>", "bob@example.org",
                    "Hello there", "first words of the snippet\n",
                    msgid="<id@x>", date="Sat, 28 Nov 2026 12:00:00 +0000")
    with smtplib.LMTP("127.0.0.1", st.dovecot.lmtp_port) as s:
        s.mail("alice@example.org")
        s.rcpt("bob@example.org")
        t0 = time.monotonic()
        s.data(msg)
        t1 = time.monotonic()
    n = bob.wait_for_message(lambda n: n.mail is not None, 2.0 * SLOW)
    assert n is not None, "no notification within 2 s"
    print("\nlatency: %.2f ms from sending the LMTP DATA to the client's "
          "receipt (the LMTP DATA reply took %.2f ms)"
          % ((n.received - t0) * 1000, (t1 - t0) * 1000))
    assert n.received - t0 < 2.0 * SLOW
    assert n.frm == "mail.example.org"
    assert n.to.split("/")[0] == "bob@example.org"
    assert n.type == "chat"
    assert n.body == ("New mail from Alice Example <alice@example.org>\n"
                      "Subject: Hello there\n\n"
                      "first words of the snippet")
    assert n.mail == {
        "mailbox": "INBOX", "uidvalidity": uidvalidity(st, "bob"), "uid": 1,
        "from": "alice@example.org", "from_name": "Alice Example",
        "subject": "Hello there", "message_id": "<id@x>",
        "date": "2026-11-28T12:00:00Z", "snippet": None,
    }
    # Exactly one message, and nothing else arrives later.
    time.sleep(1.0 * SLOW)
    assert len(bob.messages) == 1, bob.messages

    # Without a display name or subject, and in another mailbox by name:
    # the first line is the bare address, "(no subject)" stands in.
    msg = make_mail("carol@example.org", "bob@example.org", None,
                    "second\n")
    st.deliver("bob@example.org", msg, sender="carol@example.org")
    n = bob.wait_for_message(lambda n: n.mail is not None and
                             n.mail["uid"] == 2, 2.0 * SLOW)
    assert n is not None
    assert n.body == ("New mail from carol@example.org\n"
                      "Subject: (no subject)\n\nsecond")
    assert n.mail["from"] == "carol@example.org"


def _b(charset, text):
    return "=?%s?b?%s?=" % (charset, base64.b64encode(
        text.encode(charset)).decode())


def test_hostile_subjects_keep_the_stream_up(make_stack):
    st = make_stack(notify=NOTIFY_SINGLES)
    bob = st.client("bob")
    carol = st.client("carol")
    long_words = " ".join("word%04d" % i for i in range(1200))  # ~10.8 kB
    folded = "\r\n ".join(long_words[i:i + 70]
                          for i in range(0, len(long_words), 70))
    cases = [
        # (raw subject bytes, predicate on the decoded subject)
        ((_b("utf-8", "Grüße") + " und " + _b("iso-8859-1", "café") +
          " und " + _b("koi8-r", "Привет") + " und " +
          _b("shift_jis", "こんにちは")).encode(),
         lambda s: s == "Grüße und café und Привет und こんにちは"),
        (b"=?iso-8859-1?q?caf=E9?= =?utf-8?q?_na=C3=AFve?=",
         lambda s: s == "café naïve"),
        (b"bell\x07 esc\x1b[31m red\x7f del\x01end",
         lambda s: "bell" in s and "red" in s and s.endswith("end")),
        (b"caf\xe9 au lait \xff\xfe raw 8-bit",
         lambda s: s.startswith("caf") and "au lait" in s and
         s.endswith("raw 8-bit")),
        (b"nul\x00byte here", lambda s: s.startswith("nul") and
         s.endswith("byte here")),
        (b"=?utf-8?b?!!!not-base64?= =?x-unknown?q?abc?= =?utf-8?q?=FF?=",
         lambda s: "abc" in s),
        (folded.encode(), lambda s: s.startswith("word0000 word0001") and
         len(s.encode()) <= 1024),
    ]
    for i, (raw, ok) in enumerate(cases, start=1):
        msg = make_mail("Mallory <mallory@example.org>", "bob@example.org",
                        raw_subject=raw, body="body %d\n" % i)
        st.deliver("bob@example.org", msg, sender="mallory@example.org")
        n = bob.wait_for_message(
            lambda n: n.mail is not None and n.mail["uid"] == i, 3.0 * SLOW)
        assert n is not None, "case %d (%r): no notification" % (i, raw[:60])
        subj = n.mail["subject"]
        assert subj is not None
        assert_clean(subj, 1024)
        assert_clean(n.body, 4096)
        assert ok(subj), "case %d: subject %r" % (i, subj)
        line2 = n.body.split("\n")[1]
        assert line2 == "Subject: " + subj, (line2, subj)

    # The stream stayed up for everyone: carol, online all along, is
    # notified afterwards, no client was disconnected, and tidingsd never
    # had to reconnect its component.
    st.mail("carol", subject="After the storm")
    n = carol.wait_for_message(lambda n: n.mail is not None, 3.0 * SLOW)
    assert n is not None and n.mail["subject"] == "After the storm"
    assert bob.disconnects == 0 and carol.disconnects == 0
    assert st.tidingsd.count_log("xmpp: connected") == 1
    assert st.tidingsd.count_log("closed the connection") == 0
    assert len(mail_notices(bob)) == len(cases)
    assert len(mail_notices(carol)) == 1


def test_burst_collapses_into_one_digest(make_stack):
    st = make_stack(notify={"burst_max": 3, "burst_window": "3s",
                            "digest_list_max": 15})
    bob = st.client("bob")
    msgs = [make_mail("Sender %02d <s%02d@example.org>" % (i, i),
                      "bob@example.org", "Burst %02d" % i, "text %d\n" % i)
            for i in range(1, 21)]
    t0 = time.monotonic()
    with smtplib.LMTP("127.0.0.1", st.dovecot.lmtp_port) as s:
        for i, m in enumerate(msgs, start=1):
            s.sendmail("s%02d@example.org" % i, ["bob@example.org"], m)
    print("\n20 mails delivered in %.0f ms" % ((time.monotonic() - t0) * 1e3))
    d = bob.wait_for_message(lambda n: n.digest is not None, 10.0 * SLOW)
    assert d is not None, "no digest: %r" % bob.messages
    st.wait_quiet(bob, quiet=4.0)

    singles = [n for n in bob.messages if n.mail is not None]
    digests = [n for n in bob.messages if n.digest is not None]
    assert len(bob.messages) == 4, bob.messages
    assert [n.mail["uid"] for n in singles] == [1, 2, 3]
    assert [n.mail["subject"] for n in singles] == \
        ["Burst 01", "Burst 02", "Burst 03"]
    assert len(digests) == 1
    g = digests[0]
    assert g.digest["count"] == 17
    assert [m["uid"] for m in g.digest["mails"]] == list(range(4, 19))
    assert [m["subject"] for m in g.digest["mails"]] == \
        ["Burst %02d" % i for i in range(4, 19)]
    assert [m["from"] for m in g.digest["mails"]] == \
        ["s%02d@example.org" % i for i in range(4, 19)]
    expected = ["17 new mails:"] + [
        "• Sender %02d <s%02d@example.org>: Burst %02d" % (i, i, i)
        for i in range(4, 19)] + ["…and 2 more."]
    assert g.body.split("\n") == expected
    assert len(singles) + g.digest["count"] == 20
    assert g.frm == "mail.example.org" and g.type == "chat"


def test_unmappable_users_are_skipped_with_a_log_line(make_stack):
    st = make_stack(notify=NOTIFY_SINGLES,
                    extra_users={"dave@other.org": "pw",
                                 "bob&co@example.org": "pw"},
                    # Dovecot refuses & in user names by default.
                    dovecot_conf="auth_username_chars =\n")
    bob = st.client("bob")
    offset = st.tidingsd.log_size()
    for rcpt in ("dave@other.org", "bob&co@example.org"):
        msg = make_mail("Alice <alice@example.org>", rcpt, "For " + rcpt)
        st.deliver(rcpt, msg)
    # A mail for bob afterwards is notified: the events were processed in
    # order and the others were skipped, not stuck.
    st.mail("bob", subject="Only for bob")
    n = bob.wait_for_message(lambda n: n.mail is not None, 3.0 * SLOW)
    assert n is not None and n.mail["subject"] == "Only for bob"
    time.sleep(0.5 * SLOW)
    assert len(bob.messages) == 1, bob.messages
    # One line names the first user and why; users tidings does not serve
    # cost no more than one line a minute, whoever sends them.
    log = st.tidingsd.log(offset)
    lines = [ln for ln in log.splitlines() if "not notified" in ln]
    assert len(lines) == 1, log
    assert "dave@other.org" in lines[0], lines
    assert "the mail domain is not in [mail] domain" in lines[0], lines
    # Nothing was sent to a guessed JID: Prosody would have bounced it back
    # as an error, or stored it offline.
    assert st.tidingsd.count_log("closed the connection") == 0
    assert st.tidingsd.count_log("xmpp: connected") == 1
    # Both are counted.
    assert st.tidingsd.stop() == 0
    assert "unserved 2," in st.tidingsd.log(offset)
