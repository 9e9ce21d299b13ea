"""Presence and settings (issue 6) with real Prosody, Dovecot, tidingsd.

Prosody grants tidings XEP-0356 presence permission (prosody.py's
privileged_entities), so tidings knows who is online. A user who is offline
gets no message per mail; when they come online, one summary. A user in
dnd (hold_when = dnd, the default) gets nothing until they are back, then
one summary. Settings change with text commands and survive a restart.
"""

import os
import signal
import sqlite3
import time

from tidingsd import SLOW

NOTIFY = {"burst_max": 5, "burst_window": "2s", "gap_delay": "500ms"}


def summaries(client):
    return [n for n in client.messages if n.summary is not None]


def singles(client):
    return [n for n in client.messages if n.mail is not None]


def wait_privileged(st):
    """tidingsd has seen Prosody's privilege advertisement."""
    st.tidingsd.wait_log("presence permission", 10.0)


def test_summary_on_login_instead_of_offline_messages(make_stack):
    st = make_stack(notify=NOTIFY)
    wait_privileged(st)
    for i in range(1, 4):
        st.mail("bob", subject="While offline %d" % i)
    time.sleep(1.5 * SLOW)
    # bob logs in: no pile of offline messages, one summary.
    bob = st.client("bob")
    n = bob.wait_for_message(lambda n: n.summary is not None, 5.0 * SLOW)
    assert n is not None, bob.messages
    assert n.summary["unread"] == 3 and n.summary["new"] == 3, n
    assert [m["subject"] for m in n.summary["mails"]] == \
        ["While offline %d" % i for i in range(1, 4)]
    assert "3 unread mails in INBOX; 3 arrived since you were last " \
           "online:" in n.body
    time.sleep(1.0 * SLOW)
    assert singles(bob) == [] and len(bob.messages) == 1, bob.messages
    assert not n.delayed
    # The summary used none of the burst allowance: the next mail is
    # notified at once, on its own.
    st.mail("bob", subject="Right after")
    m = bob.wait_for_message(lambda n: n.mail is not None, 3.0 * SLOW)
    assert m is not None and m.mail["subject"] == "Right after"


def test_dnd_holds_until_back(make_stack):
    st = make_stack(notify=NOTIFY)
    wait_privileged(st)
    bob = st.client("bob")
    # Coming online with nothing unread: no summary.
    time.sleep(1.0 * SLOW)
    assert bob.messages == []
    bob.send_presence(show="dnd")
    time.sleep(0.5 * SLOW)
    st.mail("bob", subject="During dnd 1")
    st.mail("bob", subject="During dnd 2")
    time.sleep(1.5 * SLOW)
    assert bob.messages == [], bob.messages
    bob.send_presence()  # available again
    n = bob.wait_for_message(lambda n: n.summary is not None, 5.0 * SLOW)
    assert n is not None
    assert [m["subject"] for m in n.summary["mails"]] == \
        ["During dnd 1", "During dnd 2"]
    # away is not held by the default hold_when = dnd.
    bob.send_presence(show="away")
    time.sleep(0.5 * SLOW)
    st.mail("bob", subject="While away")
    m = bob.wait_for_message(lambda n: n.mail is not None, 3.0 * SLOW)
    assert m is not None and m.mail["subject"] == "While away"


def say(client, text, want, timeout=5.0):
    """Sends text to the Mail contact; returns its reply containing want."""
    start = len(client.messages)
    client.send_message("mail.example.org", text)
    n = client.wait_for_message(lambda n: n.body is not None and
                                want in n.body, timeout * SLOW, start=start)
    assert n is not None, (text, client.messages[start:])
    return n


def test_text_commands_and_settings_survive_a_restart(make_stack):
    st = make_stack(notify=NOTIFY)
    wait_privileged(st)
    bob = st.client("bob")
    say(bob, "help", "check \u2014 a summary of your mailbox now")
    n = say(bob, "settings", "Your settings:")
    assert "notify = yes (default)" in n.body
    assert "hold_when = dnd (default)" in n.body
    say(bob, "set notify off", "notify is now no.")
    say(bob, "set hold_when sometimes", "hold_when takes never, dnd or away.")
    say(bob, "set colour blue", 'There is no setting "colour"')
    say(bob, "frobnicate", 'I do not know "frobnicate"')
    # notify off: no message per mail while online.
    st.mail("bob", subject="Quiet")
    time.sleep(1.5 * SLOW)
    assert singles(bob) == []
    # check: a summary now, listing it.
    n = say(bob, "check", "1 unread mail in INBOX")
    assert n.summary is not None and n.summary["unread"] == 1
    # A restart keeps the setting.
    assert st.tidingsd.stop() == 0
    st.tidingsd.start()
    n = say(bob, "settings", "Your settings:")
    assert "notify = no\n" in n.body
    say(bob, "set notify default", "notify is back to the default.")
    st.mail("bob", subject="Loud again")
    m = bob.wait_for_message(lambda n: n.mail is not None and
                             n.mail["subject"] == "Loud again", 5.0 * SLOW)
    assert m is not None


def test_mail_from_a_local_user_names_their_jid_and_presence(make_stack):
    """bob is told alice's JID and her presence now, so he can chat back:
    away while she is away, offline once she has left."""
    st = make_stack(notify=NOTIFY)
    wait_privileged(st)
    bob = st.client("bob")
    alice = st.client("alice")
    alice.send_presence(show="away")
    time.sleep(0.5 * SLOW)
    st.mail("bob", subject="From alice, away")
    n = bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert n is not None, bob.messages
    assert "<alice@example.org> (away, xmpp:alice@example.org)" in n.body
    xml = n.xml.replace("'", '"')
    assert 'jid="alice@example.org"' in xml and 'presence="away"' in xml
    alice.disconnect()
    time.sleep(0.5 * SLOW)
    st.mail("bob", subject="From alice, gone")
    m = bob.wait_for_message(lambda n: n.mail is not None and
                             n.mail["subject"] == "From alice, gone",
                             5.0 * SLOW)
    assert m is not None, bob.messages
    assert "(offline, xmpp:alice@example.org)" in m.body


def test_mail_for_an_offline_user_costs_no_imap_login(make_stack):
    """While bob is offline his mail costs no IMAP work (his login summary
    will look); a first check or gap scan per mail would be thrown away
    and redone at every mail. One login when he comes online."""
    st = make_stack(notify=NOTIFY)
    wait_privileged(st)
    for i in range(1, 4):
        st.mail("bob", subject="Offline %d" % i)
        time.sleep(1.0 * SLOW)
    time.sleep(1.0 * SLOW)
    assert st.dovecot.login_lines(st.addr("bob")) == []
    bob = st.client("bob")
    n = bob.wait_for_message(lambda n: n.summary is not None, 5.0 * SLOW)
    assert n is not None, bob.messages
    assert n.summary["new"] == 3, n
    assert len(st.dovecot.login_lines(st.addr("bob"))) == 1


def test_no_summary_for_a_user_who_left_before_it_was_ready(make_stack):
    """bob comes online and leaves before his summary is ready (Dovecot
    paused): nothing waits for him in offline storage, and the mail that
    came during the login is not notified one by one either. His next
    login gets one summary listing everything."""
    st = make_stack(notify=NOTIFY)
    wait_privileged(st)
    st.mail("bob", subject="Early 1")
    st.mail("bob", subject="Early 2")
    time.sleep(1.0 * SLOW)
    pid = st.dovecot.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        bob = st.client("bob")
        time.sleep(1.0 * SLOW)
        bob.disconnect()
        time.sleep(1.0 * SLOW)
    finally:
        os.kill(pid, signal.SIGCONT)
    time.sleep(3.0 * SLOW)  # the summary's scan ends now
    bob = st.client("bob", resource="again")
    n = bob.wait_for_message(lambda n: n.summary is not None, 5.0 * SLOW)
    assert n is not None, bob.messages
    time.sleep(1.5 * SLOW)
    assert len(summaries(bob)) == 1, bob.messages
    assert singles(bob) == [], bob.messages
    assert [m["subject"] for m in n.summary["mails"]] == \
        ["Early 1", "Early 2"], n


def test_forbidden_for_anyone_not_local(make_stack):
    """eve is a user of Prosody's other host, not a served domain: her
    command gets 'forbidden' and nothing about mailboxes."""
    from xmppclient import Client
    st = make_stack(extra_xmpp_domains=["other.test"],
                    extra_users={"eve@other.test": "eve-pw"})
    eve = Client("eve")
    eve.connect("eve@other.test/t", "eve-pw", "127.0.0.1",
                st.prosody.c2s_port)
    st.clients.append(eve)
    eve.send_message("mail.example.org", "check")
    n = eve.wait_for_message(lambda n: n.type == "error", 5.0 * SLOW)
    assert n is not None, eve.messages
    assert "forbidden />" in n.xml or "forbidden/>" in n.xml, n.xml
    assert all(m.body is None or "INBOX" not in m.body
               for m in eve.messages)


def test_startup_catches_up_only_online_users(make_stack):
    """30 mailboxes in the ledger, 2 users online at the restart: only
    their mailboxes are looked at over IMAP (they get what came while
    tidingsd was down, as if it had been running); the others get their
    summary when they come online."""
    users = {"u%02d" % i: "pw%02d" % i for i in range(30)}
    st = make_stack(users=users, notify=NOTIFY)
    wait_privileged(st)
    assert st.tidingsd.stop() == 0
    # A ledger as a long run leaves it: each mailbox known, its first mail
    # notified.
    db = sqlite3.connect(os.path.join(st.dir, "state", "tidings.db"))
    for u in users:
        st.mail(u, subject="Known")
        im = st.dovecot.imap_master(st.addr(u))
        uv = int(im.status("INBOX", "(UIDVALIDITY)")[1][0]
                 .split(b"UIDVALIDITY ")[1].rstrip(b")"))
        im.logout()
        db.execute("INSERT INTO mailboxes(user, mailbox, uidvalidity,"
                   " last_uid) VALUES(?, 'INBOX', ?, 1)", (st.addr(u), uv))
    db.commit()
    db.close()
    for u in users:
        st.mail(u, subject="While down")
    u01, u02 = st.client("u01"), st.client("u02")
    logins_before = len(st.dovecot.login_lines())
    st.tidingsd.start()
    # Online at the restart: caught up as if tidingsd had been running.
    for c in (u01, u02):
        n = c.wait_for_message(lambda n: n.mail is not None, 10 * SLOW)
        assert n is not None, c.messages
        assert n.mail["subject"] == "While down", n
    time.sleep(3.0 * SLOW)
    logins = st.dovecot.login_lines()[logins_before:]
    users_seen = {line.split("user=<")[1].split(">")[0] for line in logins}
    # u01 and u02, not the 28 others.
    assert users_seen == {st.addr("u01"), st.addr("u02")}, logins
    # One of the others comes online later: their summary then.
    u05 = st.client("u05")
    n = u05.wait_for_message(lambda n: n.summary is not None, 10 * SLOW)
    assert n is not None


def test_mail_contact_in_the_roster(make_stack):
    """Prosody grants roster both: the first time bob comes online, the
    Mail contact (name "Mail", subscription both) is put in his roster and
    shown available. Once he removes it, it stays removed."""
    st = make_stack(notify=NOTIFY)
    wait_privileged(st)
    bob = st.client("bob")
    deadline = time.time() + 5.0 * SLOW
    item = None
    while item is None and time.time() < deadline:
        item = bob.roster_item("mail.example.org")
        if item is None:
            time.sleep(0.2)
    assert item == ("Mail", "both"), item
    assert bob.wait_until(lambda _m: ("mail.example.org", "available")
                          in bob.presences, 5.0 * SLOW), bob.presences
    log = st.tidingsd.log()
    assert "added the Mail contact to bob@example.org's roster" in log
    bob.roster_remove("mail.example.org")
    bob.disconnect()
    bob = st.client("bob")
    time.sleep(1.5 * SLOW)
    assert bob.roster_item("mail.example.org") is None
