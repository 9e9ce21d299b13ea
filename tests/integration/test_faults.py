"""Faults: bad datagrams, kill -9, a Prosody restart, tidingsd down or hung.

Each test runs against real Dovecot, Prosody and tidingsd (see conftest.py)
and counts exactly which mails bob was told about.
"""

import json
import os
import socket
import statistics
import time

from tidingsd import SLOW


def covered(client, component="mail.example.org"):
    """(uids listed or notified, in order; total mails covered) over the
    notifications `client` received: singles, digests, and the new mails
    of summaries (a user who was offline gets one when back)."""
    uids, total = [], 0
    for n in client.messages:
        if n.frm != component:
            continue
        if n.mail is not None:
            uids.append(n.mail["uid"])
            total += 1
        elif n.digest is not None:
            uids += [m["uid"] for m in n.digest["mails"]]
            total += n.digest["count"]
        elif n.summary is not None:
            uids += [m["uid"] for m in n.summary["mails"]]
            total += n.summary["new"]
    return uids, total


def wait_covered(st, client, total, timeout):
    """Wait until `client` was told about `total` mails, then for quiet."""
    client.wait_until(lambda _: covered(client)[1] >= total,
                      timeout * SLOW)
    st.wait_quiet(client, quiet=1.5)
    return covered(client)


def send_dgram(path, data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
        s.sendto(data, path)
    finally:
        s.close()


def test_bad_datagrams_are_dropped(make_stack):
    st = make_stack()
    bob = st.client("bob")
    good = {"v": 1, "event": "MessageNew", "user": "bob@example.org",
            "mailbox": "INBOX", "uidvalidity": 1, "uid": 1}
    bad = [
        b"{not json",
        b'{"v":1,"event":"MessageNew"}',
        json.dumps(dict(good, uid="seven")).encode(),
        json.dumps(dict(good, subject="x" * 100000)).encode(),
        bytes(range(256)) * 8,
        b"",
    ]
    offset = st.tidingsd.log_size()
    # tidingsd logs at most one drop of each kind per second (and counts
    # the rest), so the datagrams are spaced to get one line each.
    for i, d in enumerate(bad, start=1):
        send_dgram(st.events_socket, d)
        st.tidingsd.wait_log("events: dropped", 5.0, since=offset, count=i)
        time.sleep(1.1)
    assert st.tidingsd.count_log("events: dropped", offset) == len(bad)
    assert st.tidingsd.count_log("more not logged", offset) == 0
    assert st.tidingsd.running
    st.mail("bob", subject="After the garbage")
    n = bob.wait_for_message(lambda n: n.mail is not None, 3.0 * SLOW)
    assert n is not None and n.mail["subject"] == "After the garbage"
    assert n.mail["uid"] == 1
    assert len(bob.messages) == 1
    assert st.tidingsd.count_log("xmpp: connected") == 1


def test_kill9_while_mail_arrives_notifies_each_mail_once(make_stack):
    st = make_stack(notify={"burst_max": 3, "burst_window": "2s",
                            "digest_list_max": 15, "gap_delay": "500ms"})
    bob = st.client("bob")
    # One mail first, so that bob's mailbox is in the ledger (a mailbox
    # tidingsd never saw is test_first_mails_of_a_user_while_down...).
    st.mail("bob", subject="Warm-up")
    assert bob.wait_for_message(lambda n: n.mail is not None, 3.0 * SLOW)
    time.sleep(0.5 * SLOW)
    for i in range(2, 6):
        st.mail("bob", subject="Before kill %d" % i)
    # Some of these four may not have been notified yet: kill anyway.
    st.tidingsd.kill()
    for i in range(6, 12):
        st.mail("bob", subject="While down %d" % i)
    st.tidingsd.start()
    uids, total = wait_covered(st, bob, 11, 30.0)
    assert sorted(uids) == list(range(1, 12)), (uids, bob.messages)
    assert total == 11, bob.messages
    assert bob.disconnects == 0

    # A clean restart repeats nothing.
    n_before = len(bob.messages)
    assert st.tidingsd.stop() == 0
    st.tidingsd.start()
    time.sleep(4.0 * SLOW)
    assert len(bob.messages) == n_before, bob.messages[n_before:]

    # And a second kill -9 with nothing new in between repeats nothing.
    st.tidingsd.kill()
    st.tidingsd.start()
    time.sleep(4.0 * SLOW)
    assert len(bob.messages) == n_before, bob.messages[n_before:]
    st.mail("bob", subject="After all that")
    n = bob.wait_for_message(lambda n: n.mail is not None and
                             n.mail["uid"] == 12, 3.0 * SLOW)
    assert n is not None
    assert covered(bob) == (list(uids) + [12], 12)


def test_prosody_restart_loses_nothing(make_stack):
    st = make_stack(notify={"burst_max": 3, "burst_window": "2s"})
    bob = st.client("bob")
    st.mail("bob", subject="Before the outage")
    assert bob.wait_for_message(lambda n: n.mail is not None, 3.0 * SLOW)
    st.clients.remove(bob)
    offset = st.tidingsd.log_size()
    st.prosody.stop()
    st.tidingsd.wait_log("xmpp: 127.0.0.1:%d closed the connection"
                         % st.prosody.component_port, 5.0, since=offset)
    for i in range(2, 7):
        st.mail("bob", subject="During the outage %d" % i)
    time.sleep(1.0)
    st.prosody.start()
    t0 = time.monotonic()
    st.tidingsd.wait_log("xmpp: connected", 35.0, since=offset)
    print("\ntidingsd reconnected %.2f s after Prosody came back"
          % (time.monotonic() - t0))
    bob2 = st.client("bob", resource="again")
    st.mail("bob", subject="After the outage")
    uids, total = wait_covered(st, bob2, 6, 20.0)
    assert sorted(uids) == list(range(2, 8)), (uids, bob2.messages)
    assert total == 6, bob2.messages
    assert st.tidingsd.running
    assert st.tidingsd.count_log("xmpp: connected") == 2


def _deliver_many(st, user, n, label):
    times = []
    for i in range(n):
        times.append(st.mail(user, subject="%s %d" % (label, i)))
    return times


def test_tidingsd_down_or_hung_never_slows_delivery(make_stack):
    st = make_stack(notify={"burst_max": 3, "burst_window": "1s",
                            "gap_delay": "500ms"})
    bob = st.client("bob")
    n = 50

    # All to bob, whose mailbox tidingsd knows from the first phase on:
    # after each phase he has been told about every mail exactly once.
    base = _deliver_many(st, "bob", n, "Baseline")
    uids, total = wait_covered(st, bob, n, 30.0)
    assert total == n and len(uids) == len(set(uids)), bob.messages

    assert st.tidingsd.stop() == 0
    assert not os.path.exists(st.events_socket)
    down = _deliver_many(st, "bob", n, "Down")
    st.tidingsd.start()
    uids, total = wait_covered(st, bob, 2 * n, 30.0)
    assert total == 2 * n and len(uids) == len(set(uids)), bob.messages

    st.tidingsd.pause()
    try:
        hung = _deliver_many(st, "bob", n, "Hung")
    finally:
        st.tidingsd.resume()
    uids, total = wait_covered(st, bob, 3 * n, 30.0)
    assert total == 3 * n and len(uids) == len(set(uids)), bob.messages

    med = [statistics.median(t) * 1000 for t in (base, down, hung)]
    print("\nLMTP delivery of %d mails, median / max ms: running %.2f / %.2f,"
          " down %.2f / %.2f, hung (SIGSTOP) %.2f / %.2f"
          % (n, med[0], max(base) * 1000, med[1], max(down) * 1000, med[2],
             max(hung) * 1000))
    for t in base + down + hung:
        assert t < 0.5
    assert bob.disconnects == 0


def test_first_mails_of_a_user_while_down_are_not_lost(make_stack):
    """carol's mailbox is not in the ledger yet (she never had mail): her
    first mails, delivered while tidingsd is down, are still found."""
    st = make_stack(notify={"burst_max": 3, "burst_window": "1s",
                            "gap_delay": "500ms"})
    carol = st.client("carol")
    assert st.tidingsd.stop() == 0
    for i in range(1, 3):
        st.mail("carol", subject="First ever %d" % i)
    st.tidingsd.start()
    uids, total = wait_covered(st, carol, 2, 10.0)
    assert sorted(uids) == [1, 2] and total == 2, carol.messages
