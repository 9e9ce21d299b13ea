"""Mail from chat (issue 7), end to end: real Prosody, Dovecot, a private
Postfix (postfix.py) delivering to that Dovecot over LMTP, and tidingsd
with [mail] smtp_host/smtp_port naming that Postfix (stack.Stack with
postfix=True).

A local user chats to an e-mail address written as a JID at the
component (XEP-0106: dora@example.net -> dora\\40example.net@mail.
example.org); tidingsd submits a real mail from the user's own address,
and answers in the same conversation ("Sent to ...", "Not sent yet to
...", "Not sent to ..."). example.net is a second mail domain whose
mailboxes (dora, desk, evil) live in the same Dovecot, reached through
Postfix like any outside address; bob@example.org is a local user reached
the same way.

The rules of issue 7 (forbidden to non-local JIDs, no header injection,
the send limit, payload-free messages, retries while Postfix is down,
also across a tidingsd restart) are in test_mail_from_chat_rules.py.

The copy in the sender's \\Sent mailbox needs a \\Sent special-use mailbox
the master user may append to: test_copy_in_sent fails with "NO \\Sent
MAILBOX" until the Dovecot configuration of the suite (dovecot.py,
another change) provides one.
"""

import email.utils
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import imapmail as mbx  # noqa: E402
from stack import make_mail  # noqa: E402
from tidingsd import SLOW  # noqa: E402
from xmppextras import address_jid  # noqa: E402

NOTIFY_SINGLES = {"burst_max": 1000, "burst_window": "1s"}
EXT_PW = "ext-pw"
DORA = "dora@example.net"
DESK = "desk@example.net"
EVIL = "evil@example.net"
EXT_USERS = {DORA: EXT_PW, DESK: EXT_PW, EVIL: EXT_PW}


def chat_stack(make_stack, mail=None, **kw):
    """A stack with Postfix, the example.net mailboxes and single
    notifications; `mail`: more [mail] keys."""
    extra = dict(EXT_USERS)
    extra.update(kw.pop("extra_users", {}))
    return make_stack(postfix=True, extra_users=extra,
                      notify=dict(NOTIFY_SINGLES),
                      mail_settings=dict(mail or {}), **kw)


def ajid(st, address):
    """The JID at the component for `address`."""
    return address_jid(address, st.component)


def is_answer(n):
    return n.type != "error" and n.body is not None and (
        n.body.startswith("Sent to ") or n.body.startswith("Not sent"))


def answer(client, frm, start, timeout=20.0, what=None):
    """The next answer (Sent / Not sent ...) from `frm` after message
    index `start`; fails the test when none comes."""
    n = client.wait_from(frm, is_answer, timeout * SLOW, start)
    assert n is not None, "no answer from %s%s within %.0f s; got %r" % (
        frm, " to " + what if what else "", timeout * SLOW,
        client.messages[start:])
    return n


def sent_answer(client, frm, start, rcpts, **kw):
    """The answer must be "Sent to <rcpts>": returns it."""
    n = answer(client, frm, start, **kw)
    assert n.body.startswith("Sent to %s" % rcpts[0]), n
    assert n.type == "chat", n
    assert n.sent is not None, n
    assert sorted(n.sent["to"]) == sorted(rcpts), n
    assert n.sent["message_id"], n
    assert n.not_sent is None, n
    return n


def check_mail(m, st, user, rcpt_header=None, delivered=True):
    """A mail tidings sent for `user`: From, envelope sender (Dovecot's
    Return-Path, when `delivered`: the copy in Sent has none), Jabber-ID,
    User-Agent, Message-ID, Date, and header lines of legal length."""
    addr = st.addr(user)
    assert email.utils.parseaddr(m.header("From"))[1] == addr, m.raw[:600]
    if delivered:
        assert m.header("Return-Path") == "<%s>" % addr, m.raw[:600]
    assert m.header("Jabber-ID") == st.jid(user), m.raw[:600]
    assert (m.header("User-Agent") or "").startswith("tidings/"), \
        m.raw[:600]
    mid = m.header("Message-ID") or ""
    assert mid.startswith("<") and mid.endswith("@%s>" % st.mail_domain), \
        mid
    assert m.header("Date"), m.raw[:600]
    if rcpt_header is not None:
        want = sorted(a.lower() for a in rcpt_header)
        got = sorted(a.lower() for _, a in email.utils.getaddresses(
            m.headers("To")))
        assert got == want, (got, want)
    for line in m.raw_headers().split(b"\r\n"):
        assert len(line) <= 998, line[:100]


def reply_mail(frm, to, subject, mid, in_reply_to, body, reply_to=None):
    """A reply mail (bytes) as a mail client writes it."""
    headers = {"In-Reply-To": in_reply_to, "References": in_reply_to}
    if reply_to is not None:
        headers["Reply-To"] = reply_to
    return make_mail(frm, to, subject, body, msgid=mid, headers=headers)


def test_chat_to_addresses_arrives(make_stack):
    """A chat to bob@example.org's and to dora@example.net's escaped JIDs
    becomes a mail in their INBOX, with the right headers; bob, a local
    user, is notified of it as of any mail from alice (her own JID);
    alice gets the answer and no notification."""
    st = chat_stack(make_stack)
    alice = st.client("alice")
    bob = st.client("bob")
    for rcpt in (st.addr("bob"), DORA):
        j = ajid(st, rcpt)
        start = len(alice.messages)
        text = "Lunch tomorrow with %s?\nShall we meet at noon?\n" \
            "Über 2 Ecken: 5 € pro Person." % rcpt.split("@")[0]
        alice.send_chat(j, text)
        n = sent_answer(alice, j, start, [rcpt])
        first = "Lunch tomorrow with %s?" % rcpt.split("@")[0]
        assert n.body == 'Sent to %s, subject "%s".' % (rcpt, first), n
        assert n.sent["subject"] == first, n
        m = mbx.wait_message(st.dovecot, rcpt,
                             mbx.by_message_id(n.sent["message_id"]))
        check_mail(m, st, "alice", rcpt_header=[rcpt])
        assert m.header("Subject") == first
        body = m.text()
        assert "Shall we meet at noon?\n" in body, body
        assert "Über 2 Ecken: 5 € pro Person." in body, body
        assert "\\Seen" not in m.flags
        if rcpt == st.addr("bob"):
            nb = bob.wait_for_message(
                lambda x: x.mail is not None and
                x.mail["message_id"] == n.sent["message_id"], 10.0 * SLOW)
            assert nb is not None, bob.messages
            assert nb.frm == st.component, nb
            assert nb.mail["from"] == st.addr("alice"), nb
            assert nb.mail.get("from_jid") == st.jid("alice"), nb
            assert nb.mail["subject"] == first, nb
    st.wait_quiet(alice)
    assert alice.notices() == [], alice.notices()


def test_own_copy_never_notified(make_stack):
    """alice writes to herself and Cc's bob through send-mail: the mail
    reaches both INBOXes; bob is notified, alice is not (it is her own
    mail), neither of it in INBOX nor of the Sent copy; a mail from
    alice's address that tidings did not write is notified as usual."""
    st = chat_stack(make_stack)
    alice = st.client("alice")
    bob = st.client("bob")
    start = len(alice.messages)
    _, last = alice.run_command(st.component, "send-mail", {
        "to": [st.addr("alice")], "cc": [st.addr("bob")],
        "subject": "Note to self", "body": ["Remember the milk."]})
    assert last is not None and last.status == "completed", last
    n = answer(alice, st.component, start)
    assert n.sent is not None, n
    mid = n.sent["message_id"]
    mbx.wait_message(st.dovecot, st.addr("alice"), mbx.by_message_id(mid))
    nb = bob.wait_for_message(
        lambda x: x.mail is not None and x.mail["message_id"] == mid,
        10.0 * SLOW)
    assert nb is not None, bob.messages
    st.wait_quiet(alice, quiet=2.0)
    assert [x for x in alice.notices() if x.mail is not None] == [], \
        alice.notices()
    # The same From, another Message-ID (a mail client's): notified.
    st.deliver(st.addr("alice"), make_mail(
        st.addr("alice"), st.addr("alice"), "From my phone", "Hi me"))
    na = alice.wait_for_message(
        lambda x: x.mail is not None and
        x.mail["subject"] == "From my phone", 10.0 * SLOW)
    assert na is not None, alice.messages


def test_one_recipient_refused_for_now(make_stack):
    """Postfix takes dora and refuses desk for now (450): alice hears
    "Sent to dora" and "Not sent yet to desk"; once Postfix takes desk,
    "Sent to desk", desk gets the same mail, and alice's Sent holds one
    copy, not two."""
    st = chat_stack(make_stack, mail={"send_retry_max": "2s"}, postfix_kw={
        "rcpt_access": {DESK: "450 4.2.1 Mailbox busy, try later"}})
    alice = st.client("alice")
    start = len(alice.messages)
    _, last = alice.run_command(st.component, "send-mail", {
        "to": [DORA], "cc": [DESK], "subject": "Minutes",
        "body": ["Attached are the minutes."]})
    assert last is not None and last.status == "completed", last
    ok = sent_answer(alice, st.component, start, [DORA])
    delayed = answer(alice, st.component, start, what="desk")
    if delayed is ok:
        delayed = answer(alice, st.component,
                         alice.messages.index(ok) + 1, what="desk")
    assert delayed.body.startswith("Not sent yet to %s: " % DESK), delayed
    assert "450" in delayed.body and delayed.body.endswith(
        "I will keep trying."), delayed
    assert delayed.not_sent.get("reason") == "delayed", delayed
    st.stop_postfix()
    st.postfix.rcpt_access = {}
    st.start_postfix()
    after = len(alice.messages)
    later = sent_answer(alice, st.component, after, [DESK], timeout=30.0)
    assert later.sent["message_id"] == ok.sent["message_id"], later
    m = mbx.wait_message(st.dovecot, DESK,
                         mbx.by_message_id(ok.sent["message_id"]))
    assert m.header("Subject") == "Minutes"
    sent = mbx.special_use(st.dovecot, st.addr("alice"), "\\Sent")
    mbx.wait_message(st.dovecot, st.addr("alice"),
                     mbx.by_message_id(ok.sent["message_id"]), mailbox=sent)
    st.wait_quiet(alice, quiet=3.0)
    copies = [x for x in mbx.messages(st.dovecot, st.addr("alice"), sent)
              if x.header("Message-ID") == ok.sent["message_id"]]
    assert len(copies) == 1, copies


def test_copy_in_sent(make_stack):
    """The mail is appended to alice's \\Sent special-use mailbox with
    \\Seen, and alice is not notified of that copy.

    NEEDS the suite's Dovecot to have a \\Sent special-use mailbox that
    the master user may append to (dovecot.py, another change): until
    then this fails at "NO \\Sent MAILBOX"."""
    st = chat_stack(make_stack)
    alice = st.client("alice")
    j = ajid(st, DORA)
    alice.send_chat(j, "Notes from today\nSee you at the meeting.")
    n = sent_answer(alice, j, 0, [DORA])
    mbx.wait_message(st.dovecot, DORA,
                     mbx.by_message_id(n.sent["message_id"]))
    sent = mbx.special_use(st.dovecot, st.addr("alice"), "\\Sent")
    assert sent is not None, "NO \\Sent MAILBOX in alice's account: %r" % (
        mbx.list_mailboxes(st.dovecot, st.addr("alice")),)
    m = mbx.wait_message(st.dovecot, st.addr("alice"),
                         mbx.by_message_id(n.sent["message_id"]),
                         mailbox=sent)
    assert "\\Seen" in m.flags, m.flags
    check_mail(m, st, "alice", rcpt_header=[DORA], delivered=False)
    assert m.header("Subject") == "Notes from today"
    assert "See you at the meeting." in m.text()
    st.wait_quiet(alice, quiet=2.0)
    assert alice.notices() == [], alice.notices()
    assert len(mbx.messages(st.dovecot, st.addr("alice"), sent)) == 1


def test_second_chat_threads_as_reply(make_stack):
    """The first chat to dora starts a new mail. Dora answers; the
    notification names her escaped JID as an xmpp: URI and in <from
    jid=>; alice's next chat is a reply to dora's mail (Re:, In-Reply-To,
    References), and "Re: " is not doubled."""
    st = chat_stack(make_stack)
    alice = st.client("alice")
    j = ajid(st, DORA)
    alice.send_chat(j, "Project plan\nHere is my draft.")
    n = sent_answer(alice, j, 0, [DORA])
    first = mbx.wait_message(st.dovecot, DORA,
                             mbx.by_message_id(n.sent["message_id"]))
    assert first.header("Subject") == "Project plan"
    assert first.header("In-Reply-To") is None
    assert first.header("References") is None
    mid1 = first.header("Message-ID")

    # Dora answers by mail, as a mail client would.
    dora_mid = "<dora-1@example.net>"
    msg = reply_mail(DORA, st.addr("alice"), "Re: Project plan", dora_mid,
                    mid1, "Looks good to me.\n")
    st.deliver(st.addr("alice"), msg, sender=DORA)
    note = alice.wait_for_message(
        lambda x: x.mail is not None and x.mail["message_id"] == dora_mid,
        10.0 * SLOW)
    assert note is not None, alice.messages
    assert note.mail.get("from_jid") == j, note
    assert "xmpp:dora%5C40example.net@mail.example.org" in note.body, note

    start = len(alice.messages)
    alice.send_chat(j, "Great, then we start on Monday.")
    n = sent_answer(alice, j, start, [DORA])
    assert n.sent["subject"] == "Re: Project plan", n
    m = mbx.wait_message(st.dovecot, DORA,
                         mbx.by_message_id(n.sent["message_id"]))
    check_mail(m, st, "alice", rcpt_header=[DORA])
    assert m.header("Subject") == "Re: Project plan"
    assert m.header("In-Reply-To") == dora_mid
    refs = (m.header("References") or "").split()
    assert refs[-2:] == [mid1, dora_mid], refs
    assert "Great, then we start on Monday." in m.text()


def test_reply_to_notification(make_stack):
    """An XEP-0461 reply to a notification answers that mail: to its
    Reply-To, Re: subject, In-Reply-To/References, the XEP-0428 fallback
    quote cut from the body. Answers come from the component."""
    st = chat_stack(make_stack)
    alice = st.client("alice")
    st.deliver(st.addr("alice"), make_mail(
        "Dora <%s>" % DORA, st.addr("alice"), "Budget 2027",
        "Can you check the figures?\n", msgid="<budget@example.net>",
        headers={"Reply-To": "Dora's desk <%s>" % DESK}), sender=DORA)
    st.deliver(st.addr("alice"), make_mail(
        "Dora <%s>" % DORA, st.addr("alice"), "Other topic",
        "Unrelated.\n", msgid="<other@example.net>"), sender=DORA)
    notes = alice.wait_for_count(2, lambda x: x.mail is not None,
                                 10.0 * SLOW)
    assert len(notes) == 2, alice.messages
    note = [x for x in notes
            if x.mail["message_id"] == "<budget@example.net>"][0]
    assert note.id, note.xml

    start = len(alice.messages)
    alice.send_reply(st.component, note.id, "The figures are fine.",
                     quote=note.body, reply_to=st.component)
    n = sent_answer(alice, st.component, start, [DESK])
    assert n.frm.split("/")[0] == st.component
    assert n.sent["subject"] == "Re: Budget 2027", n
    m = mbx.wait_message(st.dovecot, DESK,
                         mbx.by_message_id(n.sent["message_id"]))
    check_mail(m, st, "alice", rcpt_header=[DESK])
    assert m.header("Subject") == "Re: Budget 2027"
    assert m.header("In-Reply-To") == "<budget@example.net>"
    assert (m.header("References") or "").split()[-1:] == \
        ["<budget@example.net>"]
    body = m.text()
    assert "The figures are fine." in body, body
    assert "> " not in body and "New mail from" not in body, body
    # Dora's own INBOX got nothing: Reply-To wins over From.
    st.postfix.wait_queue_empty()
    assert mbx.messages(st.dovecot, DORA) == []

    # Without a fallback quote it works the same.
    other = [x for x in notes
             if x.mail["message_id"] == "<other@example.net>"][0]
    start = len(alice.messages)
    alice.send_reply(st.component, other.id, "Noted.")
    n = sent_answer(alice, st.component, start, [DORA])
    m = mbx.wait_message(st.dovecot, DORA,
                         mbx.by_message_id(n.sent["message_id"]))
    assert m.header("Subject") == "Re: Other topic"
    assert m.header("In-Reply-To") == "<other@example.net>"
    assert m.text().strip() == "Noted."


def test_send_mail_command(make_stack):
    """The ad-hoc command send-mail: listed, one form (to, cc, subject,
    body; a fixed field naming local people), completing it queues the
    mail ("Sending to"), the result comes as a chat from the component;
    the mail has To and Cc as given."""
    st = chat_stack(make_stack)
    alice = st.client("alice")
    st.client("bob")
    _, items = alice.disco_items(st.component,
                                 "http://jabber.org/protocol/commands")
    assert "send-mail" in [i[1] for i in items], items
    start = len(alice.messages)
    first, last = alice.run_command(st.component, "send-mail", {
        "to": ["Bob Example <%s>" % st.addr("bob"), DORA],
        "cc": [DESK],
        "subject": "Agenda for Monday",
        "body": ["1. Budget", "2. Plans, with ümlauts"],
    })
    assert first.type == "result" and first.status == "executing", \
        first.text
    assert first.form_type == "form", first.text
    for var, typ in (("to", "text-multi"), ("cc", "text-multi"),
                     ("subject", "text-single"), ("body", "text-multi")):
        assert first.fields.get(var, {}).get("type") == typ, (var,
                                                              first.text)
    fixed = [f for f in first.fields.values() if f["type"] == "fixed"]
    assert any("bob" in " ".join(f["values"]) for f in fixed), first.text
    assert last is not None and last.type == "result", \
        last.text if last else first.text
    assert last.status == "completed", last.text
    assert any(t.startswith("Sending to") for _, t in last.notes), \
        last.notes
    n = answer(alice, st.component, start)
    assert n.body.startswith("Sent to "), n
    assert sorted(n.sent["to"]) == sorted([st.addr("bob"), DORA, DESK]), n
    for rcpt in (st.addr("bob"), DORA, DESK):
        m = mbx.wait_message(st.dovecot, rcpt,
                             mbx.by_message_id(n.sent["message_id"]))
        check_mail(m, st, "alice", rcpt_header=[st.addr("bob"), DORA])
        assert [a for _, a in email.utils.getaddresses(m.headers("Cc"))] \
            == [DESK]
        assert m.header("Subject") == "Agenda for Monday"
        assert m.text().strip() == "1. Budget\n2. Plans, with ümlauts"


def test_gateway_and_disco(make_stack):
    """jabber:iq:gateway get -> desc and prompt; set -> the escaped JID;
    an invalid address -> not-acceptable. disco#info lists the feature
    and the gateway/smtp identity."""
    st = chat_stack(make_stack)
    alice = st.client("alice")
    r, desc, prompt = alice.gateway_get(st.component)
    assert r.type == "result", r.text
    assert desc and prompt, r.text
    r, jid = alice.gateway_set(st.component, DORA)
    assert r.type == "result", r.text
    assert jid == "dora\\40example.net@mail.example.org", r.text
    for bad in ("not an address", "a@b@c.example", "dora@", ""):
        r, bad_jid = alice.gateway_set(st.component, bad)
        assert r.type == "error" and r.condition == "not-acceptable", \
            (bad, r.text)
    r, ids, feats = alice.disco_info(st.component)
    assert r.type == "result", r.text
    assert "jabber:iq:gateway" in feats, feats
    assert ("gateway", "smtp") in [(c, t) for c, t, _ in ids], ids

    # The JID it gave works for a chat.
    alice.send_chat(jid, "Via the gateway")
    n = sent_answer(alice, jid, 0, [DORA])
    mbx.wait_message(st.dovecot, DORA,
                     mbx.by_message_id(n.sent["message_id"]))


def test_permanent_failure_reported(make_stack):
    """An address Postfix refuses (no such mailbox, an outside domain)
    is reported "Not sent to ..." with <not-sent reason=>; no retry."""
    st = chat_stack(make_stack, mail={"send_retry_max": "1s"})
    alice = st.client("alice")
    for rcpt in ("nobody@example.org", "someone@elsewhere.test"):
        j = ajid(st, rcpt)
        start = len(alice.messages)
        alice.send_chat(j, "Hello?")
        n = answer(alice, j, start)
        assert n.body.startswith("Not sent to %s: " % rcpt), n
        assert n.not_sent is not None and n.not_sent.get("reason"), n
        assert n.sent is None
    st.wait_quiet(alice, quiet=3.0)
    answers = [x for x in alice.messages if is_answer(x)]
    assert len(answers) == 2, answers


def test_latency(make_stack):
    """Figures: chat -> mail in the recipient's INBOX, and -> the
    recipient's notification (bob, a local user), 30 mails one after
    the other."""
    st = chat_stack(make_stack, mail={"send_limit": 1000})
    alice = st.client("alice")
    bob = st.client("bob")
    j = ajid(st, st.addr("bob"))
    im = st.dovecot.imap_master(st.addr("bob"))
    inbox, notify = [], []
    try:
        for i in range(30):
            start = len(bob.messages)
            t0 = time.monotonic()
            alice.send_chat(j, "Latency %d" % i)
            deadline = t0 + 20 * SLOW
            while True:
                typ, data = im.status("INBOX", "(MESSAGES)")
                if int(data[0].split()[-1].strip(b")")) > i:
                    break
                assert time.monotonic() < deadline, "mail %d late" % i
                time.sleep(0.005)
            inbox.append(time.monotonic() - t0)
            nb = bob.wait_for_message(
                lambda x: x.mail is not None and
                x.mail["subject"] == "Latency %d" % i, 20 * SLOW, start)
            assert nb is not None, bob.messages[start:]
            notify.append(nb.received - t0)
    finally:
        im.logout()

    def pct(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]
    print("\nchat -> INBOX: p50 %.0f ms, p99 %.0f ms; chat -> recipient's "
          "notification: p50 %.0f ms, p99 %.0f ms (n=%d)"
          % (pct(inbox, 50) * 1000, pct(inbox, 99) * 1000,
             pct(notify, 50) * 1000, pct(notify, 99) * 1000, len(inbox)))
