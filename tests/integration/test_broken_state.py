"""Broken state: a corrupt ledger file before start, a full disk under the
ledger while mail arrives.

Real Dovecot, Prosody and tidingsd (see conftest.py); each test counts
exactly which mails bob was told about. The full-disk test mounts a small
tmpfs on tidingsd's state directory (the suite runs as root).
"""

import errno
import os
import sqlite3
import subprocess
import time

import pytest

from tidingsd import SLOW

COMPONENT = "mail.example.org"


def covered(client):
    """(uids listed or notified, in order; total mails covered) over the
    notifications `client` received from the component."""
    uids, total = [], 0
    for n in client.messages:
        if n.frm != COMPONENT:
            continue
        if n.mail is not None:
            uids.append(n.mail["uid"])
            total += 1
        elif n.digest is not None:
            uids += [m["uid"] for m in n.digest["mails"]]
            total += n.digest["count"]
    return uids, total


def wait_covered(st, client, total, timeout):
    """Wait until `client` was told about `total` mails, then for quiet."""
    client.wait_until(lambda _: covered(client)[1] >= total, timeout * SLOW)
    st.wait_quiet(client, quiet=1.5)
    return covered(client)


def state_dir(st):
    return st.config_sections()["state"]["dir"]


def notified_uids(state, user="bob@example.org", mailbox="INBOX"):
    """The UIDs the ledger file holds as notified, read with Python's own
    SQLite while tidingsd may still run (WAL: readers do not block)."""
    db = sqlite3.connect(os.path.join(state, "tidings.db"), timeout=10)
    try:
        rows = db.execute("SELECT uid FROM notified WHERE user = ? AND "
                          "mailbox = ? ORDER BY uid", (user, mailbox))
        return [r[0] for r in rows]
    finally:
        db.close()


def test_corrupt_ledger_is_moved_aside(make_stack):
    st = make_stack(notify={"burst_max": 3, "burst_window": "1s",
                            "gap_delay": "500ms"})
    bob = st.client("bob")
    st.mail("bob", subject="Before the damage")
    assert bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    # The ledger's last change (at the stop) is a second after mail 1.
    time.sleep(1.1)
    assert st.tidingsd.stop() == 0
    state = state_dir(st)
    db = os.path.join(state, "tidings.db")
    assert not os.path.exists(db + "-wal")  # a clean stop checkpointed
    st.mail("bob", subject="While down")

    # Damage it as a disk would: garbage after the first page, the time
    # of its last change kept.
    mtime = os.stat(db).st_mtime
    size = os.path.getsize(db)
    assert size > 4096
    garbage = os.urandom(size - 4096)
    with open(db, "r+b") as f:
        f.seek(4096)
        f.write(garbage)
    os.utime(db, (mtime, mtime))
    with open(db, "rb") as f:
        damaged = f.read()

    n0 = len(bob.messages)
    offset = st.tidingsd.start()
    log = st.tidingsd.log(offset)
    assert log.count("corrupt (") == 1, log
    moved = sorted(f for f in os.listdir(state)
                   if f.startswith("tidings.db.corrupt-"))
    assert len(moved) == 3, moved  # the file, its -shm and -wal
    assert moved[0] + "-shm" in moved and moved[0] + "-wal" in moved
    line = [x for x in log.splitlines() if "corrupt (" in x][0]
    assert " error: ledger %s: corrupt (" % db in line
    assert "moved it to %s/%s" % (state, moved[0]) in line
    assert "tidingsd starts with a fresh ledger" in line
    with open(os.path.join(state, moved[0]), "rb") as f:
        assert f.read() == damaged
    assert st.tidingsd.count_log(" error: ", offset) == 1, log

    # The fresh ledger works: new mail is notified, and so is the mail
    # delivered while tidingsd was down (since the file's last change);
    # mail 1, notified before the damage, is not notified again.
    st.mail("bob", subject="After the damage")
    uids, total = wait_covered(st, bob, n0 + 2, 15.0)
    new = covered(bob)[0][n0:]
    assert sorted(new) == [2, 3], bob.messages[n0:]
    assert total == 3
    assert notified_uids(state) == [2, 3]


@pytest.fixture
def tmpfs_state(tmpdir_short):
    """A 2 MiB tmpfs (mode 0700) where the first stack of the test keeps
    its state; unmounted at teardown, after tidingsd was stopped."""
    state = os.path.join(tmpdir_short, "s0", "state")
    os.makedirs(state, mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700",
                    "tmpfs", state], check=True)
    stacks = []
    yield state, stacks
    for st in stacks:
        if st.tidingsd is not None and st.tidingsd.running:
            st.tidingsd.stop()
    if subprocess.run(["umount", state]).returncode != 0:
        subprocess.run(["umount", "-l", state])


def fill(path):
    """Fill the file system of `path` up to the last byte: the file
    `fill` in it grows until ENOSPC."""
    fill_path = os.path.join(path, "fill")
    with open(fill_path, "wb", buffering=0) as f:
        for chunk in (65536, 4096, 512, 1):
            while True:
                try:
                    f.write(b"\0" * chunk)
                except OSError as e:
                    assert e.errno == errno.ENOSPC
                    break
    return fill_path


def test_full_disk_notifies_each_mail_once(make_stack, tmpfs_state):
    state, stacks = tmpfs_state
    st = make_stack(notify={"burst_max": 3, "burst_window": "1s",
                            "gap_delay": "500ms"})
    stacks.append(st)
    assert state_dir(st) == state
    bob = st.client("bob")
    st.mail("bob", subject="Before the disk is full")
    assert bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    # Written, and confirmed by the server (the outbox is empty again).
    deadline = time.monotonic() + 5.0 * SLOW
    while notified_uids(state) != [1] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert notified_uids(state) == [1]

    filler = fill(state)
    offset = st.tidingsd.log_size()
    for i in range(2, 6):
        st.mail("bob", subject="Disk full %d" % i)
    uids, total = wait_covered(st, bob, 5, 20.0)
    assert sorted(uids) == [1, 2, 3, 4, 5] and total == 5, bob.messages
    log = st.tidingsd.log(offset)
    assert log.count("writes fail (database or disk is full)") == 1, log
    assert log.count(" error: ") == 1, log
    assert notified_uids(state) == [1]  # nothing could be written
    assert st.tidingsd.running

    # Space again. The ledger writes what it kept at its next write after
    # its back-off (1 s doubling up to 15 s); each new mail is one.
    os.unlink(filler)
    uid = 5
    for _ in range(8):
        uid += 1
        st.mail("bob", subject="Space again %d" % uid)
        try:
            st.tidingsd.wait_log("writes work again: caught up", 4.0,
                                 since=offset)
            break
        except RuntimeError:
            pass
    st.tidingsd.wait_log("writes work again: caught up", 1.0, since=offset)
    uids, total = wait_covered(st, bob, uid, 20.0)
    assert sorted(uids) == list(range(1, uid + 1)), bob.messages
    assert total == uid
    log = st.tidingsd.log(offset)
    assert log.count("writes work again: caught up") == 1, log
    assert log.count(" error: ") == 1, log
    deadline = time.monotonic() + 5.0 * SLOW
    while (notified_uids(state) != list(range(1, uid + 1)) and
           time.monotonic() < deadline):
        time.sleep(0.1)
    assert notified_uids(state) == list(range(1, uid + 1))

    # A restart notifies nothing twice; the next mail once.
    n = len(bob.messages)
    assert st.tidingsd.stop() == 0
    st.tidingsd.start()
    time.sleep(4.0 * SLOW)
    assert len(bob.messages) == n, bob.messages[n:]
    st.mail("bob", subject="After the restart")
    uids, total = wait_covered(st, bob, uid + 1, 10.0)
    assert sorted(uids) == list(range(1, uid + 2)), bob.messages
