"""Mail from chat (issue 7): the rules, against real Prosody, Dovecot and
a private Postfix (see test_mail_from_chat.py for the set-up and the
helpers).

- Only local users may send: a JID of another domain on the same server
  gets forbidden (type auth) for a chat, an XEP-0461 reply, send-mail
  and jabber:iq:gateway, and Postfix sees no mail.
- No header injection: CR/LF in the first line, the subject and the
  addresses never make a header of their own, and nobody outside the
  recipients gets the mail.
- The send limit (send_limit = 3 here) holds, per user.
- Chat states, receipts and other payload-free messages send nothing;
  an XEP-0066 link sends its URL.
- Postfix down: "Not sent yet ... I will keep trying.", then delivered
  once when Postfix is back, also across a tidingsd restart.
"""

import os
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import imapmail as mbx  # noqa: E402
from test_mail_from_chat import (DESK, DORA, EVIL, ajid,  # noqa: E402
                                 answer, chat_stack, check_mail, is_answer,
                                 sent_answer)
from tidingsd import SLOW  # noqa: E402
from xmppclient import Client  # noqa: E402
from xmppextras import NS_CHATSTATES, NS_OOB, NS_RECEIPTS  # noqa: E402

OTHER = "other.test"
EVE_PW = "eve-pw"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def error_of(n):
    """(type, condition) of an error message stanza."""
    x = ET.fromstring(n.xml)
    err = x.find("{jabber:client}error")
    if err is None:
        return None, None
    cond = [c.tag.split("}", 1)[1] for c in err
            if c.tag.startswith("{%s}" % NS_STANZAS) and
            not c.tag.endswith("}text")]
    return err.get("type"), (cond[0] if cond else None)


def submit_form(client, st, fields, what):
    """Run send-mail with `fields`. Either it is queued ("Sending to"
    note, status completed): returns the answer chat from the
    component; or refused with an error note, either completed (e.g.
    the send limit) or with the form again (status executing, then
    canceled here): returns the note's text."""
    start = len(client.messages)
    first, last = client.run_command(st.component, "send-mail", fields)
    assert last is not None, (what, first.text)
    assert last.type == "result", (what, last.text)
    errors = [t for typ, t in last.notes if typ == "error"]
    if last.status == "completed" and not errors:
        assert any(t.startswith("Sending to") for _, t in last.notes), \
            (what, last.notes)
        return answer(client, st.component, start, what=what)
    assert errors, (what, last.text)
    if last.status == "completed":
        return errors[0]
    assert last.status == "executing", (what, last.text)
    r = client.command(st.component, "send-mail", action="cancel",
                       sessionid=last.sessionid)
    assert r.type == "result" and r.status == "canceled", r.text
    return errors[0]


def postfix_mails(st):
    """The number of mails Postfix took in (its cleanup log lines)."""
    return st.postfix.log().count("postfix/cleanup")


def test_not_local_forbidden(make_stack):
    st = chat_stack(make_stack, extra_xmpp_domains=[OTHER],
                    extra_users={"eve@" + OTHER: EVE_PW})
    eve = Client("eve", ignore_from=(OTHER,))
    eve.connect("eve@%s/test" % OTHER, EVE_PW, "127.0.0.1",
                st.prosody.c2s_port)
    st.clients.append(eve)
    alice = st.client("alice")
    # A notification id of alice's, which eve tries to answer.
    st.mail("alice", subject="For alice", frm="Dora <%s>" % DORA)
    note = alice.wait_for_message(lambda x: x.mail is not None,
                                  10 * SLOW)
    assert note is not None and note.id

    j = ajid(st, DORA)
    eve.send_chat(j, "Hello from eve")
    n = eve.wait_from(j, lambda x: x.type == "error", 10 * SLOW)
    assert n is not None, eve.messages
    assert error_of(n) == ("auth", "forbidden"), n.xml
    start = len(eve.messages)
    eve.send_reply(st.component, note.id, "Replying as eve",
                   quote="x", reply_to=st.component)
    n = eve.wait_from(st.component, lambda x: x.type == "error",
                      10 * SLOW, start)
    assert n is not None, eve.messages
    assert error_of(n) == ("auth", "forbidden"), n.xml
    r = eve.command(st.component, "send-mail")
    assert r.type == "error" and r.condition == "forbidden", r.text
    r, _, _ = eve.gateway_get(st.component)
    assert r.type == "error" and r.condition == "forbidden", r.text
    r, jid = eve.gateway_set(st.component, DORA)
    assert r.type == "error" and r.condition == "forbidden", r.text
    assert jid is None

    # Nothing reached Postfix; only errors came back; alice's own chat
    # still works afterwards (and is the only mail in dora's INBOX).
    time.sleep(1.0 * SLOW)
    assert postfix_mails(st) == 0, st.postfix.log_tail()
    assert [x for x in eve.messages if x.type != "error"] == []
    start = len(alice.messages)
    alice.send_chat(j, "From alice")
    n = sent_answer(alice, j, start, [DORA])
    st.postfix.wait_queue_empty()
    got = mbx.wait_message(st.dovecot, DORA)
    assert got.header("Message-ID") == n.sent["message_id"]
    assert len(mbx.messages(st.dovecot, DORA)) == 1


INJECTED = ("x-injected", "bcc")


def test_no_header_injection(make_stack):
    """CR/LF in a chat's first line, in the form's subject and address
    fields, in a gateway prompt: no extra header anywhere, evil gets
    nothing. An attempt may be refused or sent with the text folded
    away; every one is answered."""
    st = chat_stack(make_stack, mail={"send_limit": 100})
    alice = st.client("alice")
    j = ajid(st, DORA)

    # Raw XML: &#13; is a CR that reaches Prosody as such.
    for i, body in enumerate((
            "Quarterly report&#13;Bcc: %s&#13;&#10;X-Injected: 1" % EVIL,
            "Quarterly report&#13;&#10;Bcc: %s&#10;&#10;rest" % EVIL,
            "Subject line&#10;X-Injected: 2&#13;&#10;&#13;&#10;body",
            "x" * 3000 + "&#13;X-Injected: 3")):
        start = len(alice.messages)
        alice.send_raw("<message xmlns='jabber:client' to='%s' type='chat'"
                       " id='inj%d'><body>%s</body></message>"
                       % (j, i, body))
        answer(alice, j, start, what="raw chat %d" % i)

    # The send-mail form.
    forms = [
        {"to": [DORA], "subject": "Hi\r\nX-Injected: 4", "body": "b"},
        {"to": [DORA], "subject": "Hi\rBcc: %s" % EVIL, "body": "b"},
        {"to": ["Dora\r\nX-Injected: 5 <%s>" % DORA], "subject": "s",
         "body": "b"},
        {"to": ["%s\r\nX-Injected: 6" % DORA], "subject": "s",
         "body": "b"},
        {"to": [DORA], "cc": ["%s>\r\nBcc: <%s" % (DESK, EVIL)],
         "subject": "s", "body": "b"},
        {"to": ['"Dora\r\nX-Injected: 7" <%s>' % DORA], "subject": "s",
         "body": "b"},
    ]
    for i, fields in enumerate(forms):
        r = submit_form(alice, st, fields, "form %d" % i)
        print("form %d: %s" % (i, r if isinstance(r, str) else r.body))

    # Gateway prompts with CR/LF are not addresses.
    for prompt in ("%s\r\nBcc: %s" % (DORA, EVIL), "%s\n" % DORA + EVIL):
        r, jid = alice.gateway_set(st.component, prompt)
        assert r.type == "error" and r.condition == "not-acceptable", \
            (prompt, r.text)

    # An escaped JID hiding a second address in its localpart.
    bad = "dora\\20\\3cevil\\40example.net\\3e\\40example.net@%s" \
        % st.component
    start = len(alice.messages)
    alice.send_chat(bad, "two addresses in one")
    n = alice.wait_from(bad, None, 10 * SLOW, start)
    assert n is not None, "no answer to %s" % bad
    assert n.type == "error" or n.body.startswith("Not sent"), n

    st.postfix.wait_queue_empty()
    time.sleep(1.0 * SLOW)
    st.postfix.wait_queue_empty()
    assert mbx.messages(st.dovecot, EVIL) == []
    for rcpt in (DORA, DESK):
        for m in mbx.messages(st.dovecot, rcpt):
            names = [h.lower() for h in m.header_names()]
            assert not set(names) & set(INJECTED), (names, m.raw[:800])
            subj = m.header("Subject") or ""
            assert "\r" not in subj and "\n" not in subj, subj
            check_mail(m, st, "alice")


def test_send_limit(make_stack):
    """send_limit = 3: the 4th mail within the hour is refused and not
    sent; another user's limit is separate."""
    st = chat_stack(make_stack, mail={"send_limit": 3})
    alice = st.client("alice")
    bob = st.client("bob")
    j = ajid(st, DORA)
    for i in range(3):
        start = len(alice.messages)
        alice.send_chat(j, "Mail %d" % i)
        sent_answer(alice, j, start, [DORA])
    start = len(alice.messages)
    alice.send_chat(j, "Mail 3")
    n = answer(alice, j, start)
    assert n.body.startswith(
        "Not sent: you have sent 3 mails in the last hour"), n
    assert n.not_sent is not None, n
    assert n.sent is None
    # The send-mail command counts the same.
    r = submit_form(alice, st, {"to": [DORA], "subject": "Mail 4",
                                "body": "b"}, "send-mail over the limit")
    text = r if isinstance(r, str) else r.body
    assert "you have sent 3 mails" in text, text
    start = len(bob.messages)
    bob.send_chat(j, "From bob")
    sent_answer(bob, j, start, [DORA])
    st.postfix.wait_queue_empty()
    time.sleep(1.0 * SLOW)
    got = mbx.messages(st.dovecot, DORA)
    subjects = sorted(m.header("Subject") for m in got)
    assert subjects == ["From bob", "Mail 0", "Mail 1", "Mail 2"], subjects


def test_payload_free_messages_send_nothing(make_stack):
    """Chat states, a receipt request, a receipt: no mail, no answer. A
    message carrying an XEP-0066 link sends its URL (with and without a
    body)."""
    st = chat_stack(make_stack)
    alice = st.client("alice")
    j = ajid(st, DORA)
    alice.send_stanza(j, None, "chat",
                      ["<active xmlns='%s'/>" % NS_CHATSTATES])
    alice.send_stanza(j, None, "chat",
                      ["<composing xmlns='%s'/>" % NS_CHATSTATES])
    alice.send_stanza(j, None, "chat",
                      ["<request xmlns='%s'/>" % NS_RECEIPTS])
    alice.send_stanza(j, None, "chat",
                      ["<received xmlns='%s' id='abc'/>" % NS_RECEIPTS])
    alice.send_stanza(j, None, "normal", [])
    alice.send_stanza(j, None, "chat",
                      ["<paused xmlns='%s'/>" % NS_CHATSTATES])
    alice.send_chat(j, "The only mail")
    n = sent_answer(alice, j, 0, [DORA])
    st.postfix.wait_queue_empty()
    st.wait_quiet(alice, quiet=2.0)
    answers = [x for x in alice.messages if x.frm.split("/")[0] == j]
    assert answers == [n], answers
    got = mbx.messages(st.dovecot, DORA)
    assert [m.header("Subject") for m in got] == ["The only mail"], got

    url = "https://files.example.org/up/3f2a/holiday.jpg"
    # As Conversations sends a file: the URL as body and in <x/>.
    start = len(alice.messages)
    alice.send_stanza(j, url, "chat",
                      ["<x xmlns='%s'><url>%s</url></x>" % (NS_OOB, url)])
    n = sent_answer(alice, j, start, [DORA])
    m = mbx.wait_message(st.dovecot, DORA,
                         mbx.by_message_id(n.sent["message_id"]))
    assert url in m.text(), m.text()
    # The link alone, no body.
    url2 = url.replace("holiday", "beach")
    start = len(alice.messages)
    alice.send_stanza(j, None, "chat",
                      ["<x xmlns='%s'><url>%s</url></x>" % (NS_OOB, url2)])
    n = answer(alice, j, start, what="an XEP-0066 link without a body")
    assert n.sent is not None, n
    m = mbx.wait_message(st.dovecot, DORA,
                         mbx.by_message_id(n.sent["message_id"]))
    assert url2 in m.text(), m.text()


def test_postfix_down_retried(make_stack):
    """Postfix stopped: "Not sent yet ... I will keep trying." once; back
    up: delivered once and "Sent to". Then the same across a tidingsd
    restart while the mail waits."""
    st = chat_stack(make_stack, mail={"send_retry_max": "2s"})
    alice = st.client("alice")
    j = ajid(st, DORA)
    st.stop_postfix()
    alice.send_chat(j, "While Postfix sleeps")
    n = answer(alice, j, 0)
    assert n.body.startswith("Not sent yet to %s: " % DORA), n
    assert n.body.endswith("I will keep trying."), n
    assert n.not_sent is not None, n
    time.sleep(5.0 * SLOW)     # a few retries at the 2 s cap
    assert [x for x in alice.messages if is_answer(x)] == [n]
    st.start_postfix()
    ok = sent_answer(alice, j, alice.messages.index(n) + 1, [DORA],
                     timeout=30.0)
    m = mbx.wait_message(st.dovecot, DORA,
                         mbx.by_message_id(ok.sent["message_id"]))
    assert m.header("Subject") == "While Postfix sleeps"

    # Across a restart of tidingsd.
    st.stop_postfix()
    start = len(alice.messages)
    alice.send_chat(j, "Across a restart")
    n = answer(alice, j, start)
    assert n.body.startswith("Not sent yet to %s: " % DORA), n
    st.restart_tidingsd()
    st.start_postfix()
    start = len(alice.messages)
    ok = sent_answer(alice, j, start, [DORA], timeout=30.0)
    mbx.wait_message(st.dovecot, DORA,
                     mbx.by_message_id(ok.sent["message_id"]))
    st.postfix.wait_queue_empty()
    time.sleep(5.0 * SLOW)     # no second copy on a later retry
    got = [m.header("Subject") for m in mbx.messages(st.dovecot, DORA)]
    assert sorted(got) == ["Across a restart", "While Postfix sleeps"], got
