"""tidingsd against an IMAP server that answers wrongly.

bob's mailbox is known to tidingsd (one mail notified over real Dovecot);
then tidingsd starts with its IMAP side pointed at a fake server that
misbehaves in one way (tests/integration/fakeimap.py, the faults of
test_imap_pool.py): tidingsd does not crash, logs the failed scan once,
keeps the mailbox due in the ledger, and once it talks to Dovecot again
the mail delivered meanwhile is notified, once.
"""

import os
import sqlite3
import time

import pytest

from fakeimap import FakeImap
from test_imap_pool import (ByeInFetch, HugeLiteral, Silent,  # noqa: F401
                            StatusWithoutData, TruncatedLiteral)
from tidingsd import SLOW


def due_marks(st, user):
    db = sqlite3.connect(os.path.join(st.dir, "state", "tidings.db"))
    try:
        return db.execute("SELECT rescan_from FROM mailboxes WHERE user = ?"
                          " AND mailbox = 'INBOX'", (user,)).fetchall()
    finally:
        db.close()


def inbox_uidvalidity(st, user):
    im = st.dovecot.imap_master(user)
    try:
        typ, data = im.status("INBOX", "(UIDVALIDITY)")
        return int(data[0].split(b"UIDVALIDITY ")[1].rstrip(b")"))
    finally:
        im.logout()


FAULTS = {
    "status-ok-without-data": lambda: StatusWithoutData(),
    "bye-in-fetch": lambda: ByeInFetch(),
    "truncated-literal": lambda: TruncatedLiteral(),
    "huge-literal": lambda: HugeLiteral(4294967295, False),
    "silence": lambda: Silent(True),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_bad_imap_answers(make_stack, fault):
    st = make_stack(notify={"burst_max": 5, "gap_delay": "200ms"})
    bob = st.client("bob")
    st.mail("bob", subject="Known")
    assert bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert st.tidingsd.stop() == 0
    behaviour = FAULTS[fault]()
    # The fake's mailbox is bob's as far as UIDVALIDITY goes, and holds
    # mail above what was notified, so that a scan gets to FETCH.
    behaviour.uidvalidity = inbox_uidvalidity(st, "bob@example.org")
    behaviour.uids = (1, 2, 3)
    behaviour.uidnext = 4
    mail = st.tidingsd.sections["mail"]
    real_port = mail["imap_port"]
    with FakeImap([behaviour]) as fake:
        mail["imap_port"] = fake.port
        mail["imap_timeout"] = "1s"
        offset = st.tidingsd.start()
        st.tidingsd.wait_log("IMAP scan failed", 15.0, since=offset)
        time.sleep(1.0 * SLOW)
        assert st.tidingsd.running
        log = st.tidingsd.log(offset)
        assert log.count("IMAP scan failed") == 1, log
        assert "tried again later" in log
        assert due_marks(st, "bob@example.org") == [(2,)]
        assert st.tidingsd.stop() == 0
    assert not fake.errors, fake.errors
    # While tidingsd was away from Dovecot, a mail came.
    st.mail("bob", subject="Delivered meanwhile")
    mail["imap_port"] = real_port
    del mail["imap_timeout"]
    st.tidingsd.start()
    n = bob.wait_for_message(lambda n: n.mail is not None and
                             n.mail["subject"] == "Delivered meanwhile",
                             10.0 * SLOW)
    assert n is not None, bob.messages
    time.sleep(1.0 * SLOW)
    subjects = [m.mail["subject"] for m in bob.messages if m.mail]
    assert subjects == ["Known", "Delivered meanwhile"], bob.messages
    assert due_marks(st, "bob@example.org") == [(None,)]
