"""Presence with a real ejabberd 23.01: XEP-0356 in urn:xmpp:privilege:1.

ejabberd grants roster both, message outgoing and presence roster, but
answers a privileged roster set with internal-server-error and changes
nothing (FIELD-NOTES.md). tidings must notice, say so once, and ask each
user to add the Mail contact with a presence subscription instead; the
presence permission still tells it who is online, so summaries on login and
held notifications work as with Prosody.
"""

import os
import sqlite3
import time

import pytest

import ejabberd as ejmod
from tidingsd import SLOW

NOTIFY = {"burst_max": 5, "burst_window": "2s", "gap_delay": "500ms"}


@pytest.fixture
def ej(make_stack):
    if not ejmod.available():
        pytest.fail("ejabberd is not installed (tests/deps.sh installs it)")
    stacks = []

    def make(**kw):
        st = make_stack(xmpp_server="ejabberd", **kw)
        stacks.append(st)
        st.tidingsd.wait_log("presence permission", 15.0)
        return st

    yield make
    problems = []
    for st in stacks:
        st.stop()
        problems += st.ejabberd.problems()
    if problems:
        pytest.fail("; ".join(problems))


def contact_state(st, user):
    db = sqlite3.connect(os.path.join(st.dir, "state", "tidings.db"))
    try:
        row = db.execute("SELECT value FROM settings WHERE user = ? AND "
                         "name = 'mail_contact'", (st.addr(user),)
                         ).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def test_privilege_1_and_the_subscription_route(ej):
    st = ej(notify=NOTIFY)
    log = st.tidingsd.log()
    assert ("example.org grants the component roster both, message "
            "outgoing, presence roster (urn:xmpp:privilege:1): presence "
            "permission") in log, log
    bob = st.client("bob")
    # ejabberd refuses the roster set: tidings says so once and asks bob.
    st.tidingsd.wait_log("refused a privileged roster set "
                         "(internal-server-error)", 10.0 * SLOW)
    assert bob.wait_until(lambda _m: ("mail.example.org", "subscribe")
                          in bob.presences, 5.0 * SLOW), bob.presences
    # bob's client approves (slixmpp does by default): remembered.
    deadline = time.time() + 5.0 * SLOW
    while contact_state(st, "bob") != 2 and time.time() < deadline:
        time.sleep(0.1)
    assert contact_state(st, "bob") == 2
    # alice comes online too: asked as well, and the route is logged once.
    alice = st.client("alice")
    assert alice.wait_until(lambda _m: ("mail.example.org", "subscribe")
                            in alice.presences, 5.0 * SLOW)
    assert st.tidingsd.log().count("refused a privileged roster set") == 1


def test_summary_on_login_and_dnd_with_ejabberd(ej):
    """ejabberd 23.01 tells the component of presence changes only, not
    who is online when it connects: tidings learns that bob is offline
    when he leaves, and from then on summarises instead."""
    st = ej(notify=NOTIFY)
    bob = st.client("bob")
    time.sleep(0.5 * SLOW)
    bob.disconnect()
    time.sleep(0.5 * SLOW)
    for i in (1, 2):
        st.mail("bob", subject="While offline %d" % i)
    time.sleep(1.0 * SLOW)
    bob = st.client("bob")
    n = bob.wait_for_message(lambda n: n.summary is not None, 5.0 * SLOW)
    assert n is not None, (bob.messages, st.tidingsd.tail())
    assert n.summary["unread"] == 2 and n.summary["new"] == 2, n
    time.sleep(1.0 * SLOW)
    # No offline messages besides the summary.
    assert [m for m in bob.messages if m.mail is not None] == []
    bob.send_presence(show="dnd")
    time.sleep(0.5 * SLOW)
    st.mail("bob", subject="During dnd")
    time.sleep(1.5 * SLOW)
    assert [m for m in bob.messages if m.mail is not None] == []
    bob.send_presence()
    n = bob.wait_for_message(lambda n: n.summary is not None and
                             n.summary["mails"] and
                             n.summary["mails"][0]["subject"] ==
                             "During dnd", 5.0 * SLOW)
    assert n is not None, bob.messages


def test_restart_with_ejabberd_keeps_online_users_notified(ej):
    """After a tidingsd restart ejabberd does not say who is online: bob,
    online all along, is unknown, not offline, so his mail is caught up
    and notified at once; once he leaves and comes back, a summary."""
    st = ej(notify=NOTIFY)
    bob = st.client("bob")
    st.mail("bob", subject="Before")
    assert bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert st.tidingsd.stop() == 0
    st.mail("bob", subject="While tidingsd was down")
    st.tidingsd.start()
    st.tidingsd.wait_log("presence permission", 15.0)
    n = bob.wait_for_message(lambda n: n.mail is not None and
                             n.mail["subject"] == "While tidingsd was down",
                             20.0 * SLOW)
    assert n is not None, (bob.messages, st.tidingsd.tail())
    st.mail("bob", subject="After the restart")
    n = bob.wait_for_message(lambda n: n.mail is not None and
                             n.mail["subject"] == "After the restart",
                             5.0 * SLOW)
    assert n is not None, (bob.messages, st.tidingsd.tail())
    assert [m for m in bob.messages if m.summary is not None] == []
    bob.disconnect()
    time.sleep(0.5 * SLOW)
    st.mail("bob", subject="Gone")
    time.sleep(1.0 * SLOW)
    bob = st.client("bob", resource="back")
    n = bob.wait_for_message(lambda n: n.summary is not None, 5.0 * SLOW)
    assert n is not None, (bob.messages, st.tidingsd.tail())
    assert [m["subject"] for m in n.summary["mails"]] == ["Gone"], n
