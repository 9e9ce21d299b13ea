"""Nudges and read receipts (issue 8), end to end with real Dovecot and
Prosody: alice's mail client appends what she sent to her Sent mailbox
(IMAP APPEND as alice, as a mail client does; the push driver reports a
MessageAppend event), the mail itself is delivered to the local
recipients over LMTP.

- offer: the Mail contact names the recipients and their presence;
  `nudge` reminds everyone, `nudge NAME` one; the nudge comes from
  alice's own bare JID (XEP-0356 message permission) with <nudge/>; an
  offline recipient gets it when they log in;
- auto: nudges go out at once;
- a recipient whose copy is \\Seen is not nudged ("has already read it");
- at most one nudge per mail and recipient, nudge_pair_limit an hour;
- read receipts: bob reading alice's mail tells alice once, with <read/>,
  unless bob's share_read (or alice's receipts) says no; a mail that only
  claims to be from alice (no Sent copy of hers) gets no receipt.
"""

import os
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from stack import make_mail  # noqa: E402
from tidingsd import SLOW  # noqa: E402

NS = "urn:x-tidings:mail:0"
SINGLES = {"burst_max": 1000, "burst_window": "1s"}


def nudge_stack(make_stack, **kw):
    return make_stack(notify=dict(SINGLES, **kw.pop("notify", {})), **kw)


def child(n, name):
    """The <name xmlns=NS/> element of a received message, or None."""
    if n is None or n.xml is None:
        return None
    return ET.fromstring(n.xml).find("{%s}%s" % (NS, name))


def sent_by_client(st, subject, rcpts, sender="alice"):
    """alice's mail: delivered to the local recipients over LMTP, and its
    copy appended to her Sent mailbox by her own IMAP session. Returns
    the Message-ID."""
    frm = st.addr(sender)
    msg = make_mail(frm, ", ".join(rcpts), subject, "See attached.\n")
    mid = [line for line in msg.split(b"\r\n")
           if line.startswith(b"Message-ID: ")][0][12:].decode()
    for r in rcpts:
        if r.endswith("@" + st.mail_domain):
            st.deliver(r, msg, frm)
    im = st.dovecot.imap(frm)
    try:
        typ, _ = im.append("Sent", "(\\Seen)", None, msg)
        assert typ == "OK"
    finally:
        im.logout()
    return mid


def mark_seen(st, user, mid, seen=True):
    """user's own mail client marks their copy of mid (un)read."""
    im = st.dovecot.imap(st.addr(user))
    try:
        im.select("INBOX")
        typ, data = im.uid("SEARCH", "HEADER", "Message-ID", mid)
        uids = data[0].split()
        assert uids, "no copy of %s for %s" % (mid, user)
        im.uid("STORE", uids[-1], "+FLAGS" if seen else "-FLAGS",
               "(\\Seen)")
    finally:
        im.logout()


def from_component(st, client, start, pred, timeout=10.0):
    n = client.wait_for_message(
        lambda x: x.frm.split("/")[0] == st.component and x.body is not None
        and pred(x), timeout * SLOW, start)
    assert n is not None, client.messages[start:]
    return n


def nudges(client, start=0):
    return [x for x in client.messages[start:]
            if child(x, "nudge") is not None]


def test_offer_then_nudge(make_stack):
    """The offer names bob (online) and carol (offline); `nudge` sends
    both a nudge from alice's bare JID; carol gets hers on login."""
    st = nudge_stack(make_stack)
    alice = st.client("alice")
    bob = st.client("bob")
    # carol is not logged in: offline (the server tells who is online).
    rcpts = [st.addr("bob"), st.addr("carol")]
    mid = sent_by_client(st, "Q3 figures", rcpts)
    offer = from_component(st, alice, 0,
                           lambda x: x.body.startswith("Sent 'Q3"))
    assert offer.body.startswith(
        "Sent 'Q3 figures' to bob (online), carol (offline). Reply "
        "'nudge' to remind them, or 'nudge bob'."), offer.body
    assert child(offer, "sent-mail") is not None, offer.xml
    start_b = len(bob.messages)
    start_a = len(alice.messages)
    alice.send_chat(st.component, "nudge")
    nb = bob.wait_for_message(lambda x: child(x, "nudge") is not None,
                              10.0 * SLOW, start_b)
    assert nb is not None, bob.messages[start_b:]
    assert nb.frm == st.jid("alice"), nb  # her bare JID, no resource
    assert nb.type == "chat", nb
    assert nb.body.startswith(
        "%s asks you to check your mail: 'Q3 figures'" % st.addr("alice")), \
        nb.body
    el = child(nb, "nudge")
    assert el.findtext("{%s}message-id" % NS) == mid
    assert el.findtext("{%s}subject" % NS) == "Q3 figures"
    assert el.findtext("{%s}sender" % NS) == st.addr("alice")
    report = from_component(st, alice, start_a,
                            lambda x: x.body.startswith("Nudged"))
    assert report.body.startswith(
        "Nudged bob and carol about 'Q3 figures'."), report.body
    carol = st.client("carol")
    nc = carol.wait_for_message(lambda x: child(x, "nudge") is not None,
                                10.0 * SLOW)
    assert nc is not None, carol.messages
    assert nc.frm == st.jid("alice") and nc.delayed, nc
    # Once per mail and recipient.
    start_a = len(alice.messages)
    start_b = len(bob.messages)
    alice.send_chat(st.component, "nudge bob")
    again = from_component(st, alice, start_a,
                           lambda x: "already nudged" in x.body)
    assert again.body.startswith("bob was already nudged about"), \
        again.body
    st.wait_quiet(bob, quiet=1.5)
    assert nudges(bob, start_b) == []


def test_nudge_name_and_read(make_stack):
    """`nudge carol` nudges carol only; bob, who read it, is skipped and
    alice told so."""
    st = nudge_stack(make_stack)
    alice = st.client("alice")
    bob = st.client("bob")
    carol = st.client("carol")
    mid = sent_by_client(st, "Budget", [st.addr("bob"), st.addr("carol")])
    from_component(st, alice, 0, lambda x: x.body.startswith("Sent 'Bud"))
    start = len(alice.messages)
    alice.send_chat(st.component, "nudge carol")
    from_component(st, alice, start, lambda x: x.body.startswith("Nudged"))
    assert carol.wait_for_message(lambda x: child(x, "nudge") is not None,
                                  10.0 * SLOW) is not None, carol.messages
    st.wait_quiet(bob, quiet=1.0)
    assert nudges(bob) == []
    mark_seen(st, "bob", mid)
    start = len(alice.messages)
    alice.send_chat(st.component, "nudge bob")
    r = from_component(st, alice, start,
                       lambda x: "already read" in x.body)
    assert r.body.startswith("bob has already read"), r.body
    st.wait_quiet(bob, quiet=1.0)
    assert nudges(bob) == []


def test_auto_and_pair_limit(make_stack):
    """nudge = auto: each sent mail nudges at once; a script sending 100
    mails nudges bob at most nudge_pair_limit (5) times, and alice is told
    for each of the others."""
    st = nudge_stack(make_stack)
    alice = st.client("alice")
    bob = st.client("bob")
    start = len(alice.messages)
    alice.send_chat(st.component, "set nudge auto")
    from_component(st, alice, start, lambda x: "nudge is now" in x.body)
    for i in range(100):
        sent_by_client(st, "Burst %d" % i, [st.addr("bob")])
    limited = lambda: [x for x in alice.messages if x.body is not None and
                       "the limit of 5 an hour" in x.body]
    assert alice.wait_until(lambda _m: len(limited()) >= 95, 60.0 * SLOW), \
        len(limited())
    st.wait_quiet(bob, quiet=2.0)
    assert len(nudges(bob)) == 5, [x.body for x in nudges(bob)]
    st.wait_quiet(alice, quiet=2.0)
    assert len(limited()) == 95, len(limited())


def test_read_receipts(make_stack):
    """bob reads alice's mail: alice is told once, with <read/>; carol
    (share_read off) reading tells nothing; a forged mail from alice
    (no Sent copy) tells nothing."""
    st = nudge_stack(make_stack)
    alice = st.client("alice")
    st.client("bob")
    carol = st.client("carol")
    start = len(carol.messages)
    carol.send_chat(st.component, "set share_read no")
    from_component(st, carol, start, lambda x: "share_read is now" in x.body)
    mid = sent_by_client(st, "Q3 figures",
                         [st.addr("bob"), st.addr("carol")])
    from_component(st, alice, 0, lambda x: x.body.startswith("Sent 'Q3"))
    start = len(alice.messages)
    mark_seen(st, "bob", mid)
    r = from_component(st, alice, start,
                       lambda x: child(x, "read") is not None)
    assert r.body.startswith("bob read 'Q3 figures' at "), r.body
    el = child(r, "read")
    assert el.get("at"), r.xml
    assert el.findtext("{%s}reader" % NS) == st.addr("bob")
    assert el.findtext("{%s}message-id" % NS) == mid
    # Never twice: unread and read again; carol reads (share_read no).
    mark_seen(st, "bob", mid, seen=False)
    mark_seen(st, "bob", mid)
    mark_seen(st, "carol", mid)
    # A mail claiming to be from alice that she never sent.
    forged = make_mail(st.addr("alice"), st.addr("bob"), "Forged", "x\n")
    st.deliver(st.addr("bob"), forged, st.addr("alice"))
    fmid = [line for line in forged.split(b"\r\n")
            if line.startswith(b"Message-ID: ")][0][12:].decode()
    mark_seen(st, "bob", fmid)
    st.wait_quiet(alice, quiet=2.0)
    reads = [x for x in alice.messages if child(x, "read") is not None]
    assert len(reads) == 1, [x.body for x in reads]
    # Never twice, also across a restart of tidingsd.
    st.restart_tidingsd()
    mark_seen(st, "bob", mid, seen=False)
    mark_seen(st, "bob", mid)
    st.wait_quiet(alice, quiet=2.0)
    reads = [x for x in alice.messages if child(x, "read") is not None]
    assert len(reads) == 1, [x.body for x in reads]


def test_read_before_sent_copy(make_stack):
    """bob reads alice's mail before her client saved it in Sent: the
    receipt comes when the Sent copy does (without a time), once."""
    st = nudge_stack(make_stack)
    alice = st.client("alice")
    st.client("bob")
    frm = st.addr("alice")
    msg = make_mail(frm, st.addr("bob"), "Early bird", "x\n")
    mid = [line for line in msg.split(b"\r\n")
           if line.startswith(b"Message-ID: ")][0][12:].decode()
    st.deliver(st.addr("bob"), msg, frm)
    mark_seen(st, "bob", mid)
    st.wait_quiet(alice, quiet=1.0)
    assert [x for x in alice.messages if child(x, "read") is not None] == []
    im = st.dovecot.imap(frm)
    try:
        assert im.append("Sent", "(\\Seen)", None, msg)[0] == "OK"
    finally:
        im.logout()
    r = from_component(st, alice, 0, lambda x: child(x, "read") is not None)
    assert r.body == "bob read 'Early bird'.", r.body
    st.wait_quiet(alice, quiet=2.0)
    assert len([x for x in alice.messages
                if child(x, "read") is not None]) == 1


def test_nudge_notifies_muted_recipient(make_stack):
    """bob muted notifications (notify off): alice's mail reaches him
    silently; her nudge brings the nudge and, at once, the notification
    of that mail (claim 8) - once, not again on a second nudge round."""
    st = nudge_stack(make_stack)
    alice = st.client("alice")
    bob = st.client("bob")
    start = len(bob.messages)
    bob.send_chat(st.component, "set notify off")
    from_component(st, bob, start, lambda x: "notify is now" in x.body)
    mid = sent_by_client(st, "Muted", [st.addr("bob")])
    from_component(st, alice, 0, lambda x: x.body.startswith("Sent 'Mut"))
    st.wait_quiet(bob, quiet=1.0)
    assert [x for x in bob.messages if x.mail is not None] == []
    alice.send_chat(st.component, "nudge")
    nm = bob.wait_for_message(
        lambda x: x.mail is not None and x.mail["message_id"] == mid,
        10.0 * SLOW)
    assert nm is not None, bob.messages
    assert nm.mail["subject"] == "Muted", nm
    assert nm.mail["from"] == st.addr("alice"), nm
    assert bob.wait_for_message(lambda x: child(x, "nudge") is not None,
                                10.0 * SLOW) is not None
    st.wait_quiet(bob, quiet=1.5)
    assert len([x for x in bob.messages if x.mail is not None]) == 1


def test_not_sent_mailbox_no_offer(make_stack):
    """A mail of alice's that her client files in another mailbox (an
    archive, not her \\Sent special-use one) is not taken for a sent
    mail: no offer."""
    st = nudge_stack(make_stack)
    alice = st.client("alice")
    st.client("bob")
    msg = make_mail(st.addr("alice"), st.addr("bob"), "Old stuff", "x\n")
    im = st.dovecot.imap(st.addr("alice"))
    try:
        im.create("Archive")
        typ, _ = im.append("Archive", "(\\Seen)", None, msg)
        assert typ == "OK"
    finally:
        im.logout()
    sent_by_client(st, "New stuff", [st.addr("bob")])
    offer = from_component(st, alice, 0,
                           lambda x: x.body.startswith("Sent '"))
    assert offer.body.startswith("Sent 'New stuff'"), offer.body
    st.wait_quiet(alice, quiet=1.5)
    offers = [x for x in alice.messages if x.body is not None and
              x.body.startswith("Sent '")]
    assert len(offers) == 1, [x.body for x in offers]


def test_ejabberd(make_stack):
    """With ejabberd 23.01 (mod_privilege, message outgoing granted): the
    offer, `nudge`, the nudge from alice's bare JID, the read receipt."""
    import ejabberd as ejmod
    if not ejmod.available():
        import pytest
        pytest.fail("ejabberd is not installed (tests/deps.sh installs it)")
    st = nudge_stack(make_stack, xmpp_server="ejabberd")
    try:
        st.tidingsd.wait_log("presence permission", 15.0)
        alice = st.client("alice")
        bob = st.client("bob")
        mid = sent_by_client(st, "Q4 plan", [st.addr("bob")])
        offer = from_component(st, alice, 0,
                               lambda x: x.body.startswith("Sent 'Q4"))
        assert "bob" in offer.body, offer.body
        start_b = len(bob.messages)
        alice.send_chat(st.component, "nudge")
        nb = bob.wait_for_message(lambda x: child(x, "nudge") is not None,
                                  10.0 * SLOW, start_b)
        assert nb is not None, bob.messages[start_b:]
        frm = nb.frm.split("/")[0]
        # ejabberd 23.01 takes the wrapped message: from her bare JID.
        assert frm == st.jid("alice"), nb
        start = len(alice.messages)
        mark_seen(st, "bob", mid)
        r = from_component(st, alice, start,
                           lambda x: child(x, "read") is not None)
        assert r.body.startswith("bob read 'Q4 plan'"), r.body
    finally:
        st.stop()
    problems = st.ejabberd.problems()
    assert not problems, problems


def test_read_while_down(make_stack):
    """bob reads alice's mail while tidingsd is down (the MessageRead
    event is lost): after the restart alice is told once, without a
    time; receipts = no on alice's side tells nothing."""
    st = nudge_stack(make_stack)
    alice = st.client("alice")
    st.client("bob")
    st.client("carol")
    mid = sent_by_client(st, "While down", [st.addr("bob")])
    from_component(st, alice, 0, lambda x: x.body.startswith("Sent 'Whi"))
    st.tidingsd.stop()
    mark_seen(st, "bob", mid)
    st.tidingsd.start()
    r = from_component(st, alice, 0, lambda x: child(x, "read") is not None,
                       timeout=20.0)
    assert r.body == "bob read 'While down'.", r.body
    # The sender's receipts = no: nothing.
    start = len(alice.messages)
    alice.send_chat(st.component, "set receipts no")
    from_component(st, alice, start, lambda x: "receipts is now" in x.body)
    mid2 = sent_by_client(st, "Quiet", [st.addr("carol")])
    from_component(st, alice, start, lambda x: x.body.startswith("Sent 'Q"))
    mark_seen(st, "carol", mid2)
    st.wait_quiet(alice, quiet=2.0)
    assert len([x for x in alice.messages
                if child(x, "read") is not None]) == 1


def test_remote_recipient_not_nudged(make_stack):
    """nudge_remote = no (the default): a recipient at another domain is
    listed in the offer but not nudged, and the sender is told why."""
    st = nudge_stack(make_stack)
    alice = st.client("alice")
    bob = st.client("bob")
    sent_by_client(st, "Mixed", [st.addr("bob"), "gina@example.net"])
    offer = from_component(st, alice, 0,
                           lambda x: x.body.startswith("Sent 'Mixed'"))
    assert "gina@example.net" in offer.body, offer.body
    start = len(alice.messages)
    alice.send_chat(st.component, "nudge")
    r = from_component(st, alice, start,
                       lambda x: x.body.startswith("Nudged"))
    assert "Not nudged: gina@example.net (only people here can be " \
        "nudged)." in r.body, r.body
    assert bob.wait_for_message(lambda x: child(x, "nudge") is not None,
                                10.0 * SLOW) is not None
