"""Only Dovecot speaks for a mailbox: tidingsd takes events only from the
writers [events] trusted_users names (root always), reading each
datagram's sender from the kernel.

Real Dovecot, Prosody and tidingsd; the forger is a process of another
uid that can write to the socket (it is in the socket's group).
"""

import json
import os
import pwd
import sqlite3
import subprocess
import sys
import time

from tidingsd import SLOW

NOBODY = pwd.getpwnam("nobody").pw_uid
MAIL = pwd.getpwnam("mail")


def send_as(uid, gid, path, event):
    """Writes one datagram to path from a process of uid/gid."""
    code = ("import socket,sys;s=socket.socket(socket.AF_UNIX,"
            "socket.SOCK_DGRAM);s.sendto(sys.argv[2].encode(),sys.argv[1])")

    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    subprocess.run([sys.executable, "-c", code, path, json.dumps(event)],
                   preexec_fn=drop, check=True, timeout=10)


def forged(user, uid, subject):
    return {"v": 1, "event": "MessageNew", "user": user, "mailbox": "INBOX",
            "uidvalidity": 1, "uid": uid, "from_address": "it@mail.example.org",
            "from_name": "IT department", "subject": subject,
            "snippet": "Log in at https://evil.example/login today."}


def ledger_rows(st, user):
    db = sqlite3.connect(os.path.join(st.dir, "state", "tidings.db"))
    try:
        return db.execute("SELECT count(*) FROM mailboxes WHERE user = ?",
                          (user,)).fetchone()[0]
    finally:
        db.close()


def master_logins(st):
    return st.dovecot.log().count("*tidings")


def test_forged_events_change_nothing(make_stack):
    st = make_stack()
    bob = st.client("bob")
    offset = st.tidingsd.log_size()
    logins = master_logins(st)
    # From uid nobody in the socket's group (so the kernel lets it write):
    # a new mail, and one without UID (which would make tidingsd look the
    # mailbox up over IMAP).
    send_as(NOBODY, MAIL.pw_gid, st.events_socket,
            forged("bob@example.org", 1,
                   "Your password expires: https://evil.example/login"))
    send_as(NOBODY, MAIL.pw_gid, st.events_socket,
            forged("carol@example.org", 0, "Urgent"))
    st.tidingsd.wait_log("refused an event from uid %d (nobody" % NOBODY,
                         5.0, since=offset)
    time.sleep(2.0 * SLOW)
    assert bob.messages == [], bob.messages
    log = st.tidingsd.log(offset)
    # One line for the burst, naming the writer.
    assert log.count("events: refused an event") == 1, log
    assert "not in [events] trusted_users" in log
    assert ledger_rows(st, "bob@example.org") == 0
    assert ledger_rows(st, "carol@example.org") == 0
    assert master_logins(st) == logins, st.dovecot.log()[-2000:]

    # Dovecot's own events still work: the real mail is notified, once.
    st.mail("bob", subject="The real one")
    n = bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert n is not None and n.mail["subject"] == "The real one"
    time.sleep(0.5 * SLOW)
    assert len(bob.messages) == 1, bob.messages
    assert st.tidingsd.stop() == 0
    assert "refused 2)" in st.tidingsd.log(offset)


def test_a_trusted_uid_is_heard(make_stack):
    """[events] trusted_users = mail (what stack.py sets): a process of
    that uid, as Dovecot's IMAP processes are, is taken at its word."""
    st = make_stack()
    bob = st.client("bob")
    send_as(MAIL.pw_uid, MAIL.pw_gid, st.events_socket,
            forged("bob@example.org", 1, "From the mail uid"))
    n = bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert n is not None and n.mail["subject"] == "From the mail uid"


def test_warns_when_anyone_can_speak(make_stack):
    """A socket others may write to, with the check off: one loud line at
    start. With the check on, the same socket is safe: no line."""
    st = make_stack(start_tidings=False)
    ev = st.tidingsd.sections["events"]
    ev["socket_mode"] = "0662"
    ev["trusted_users"] = "any"
    offset = st.tidingsd.start()
    log = st.tidingsd.log(offset)
    assert "is writable by every local user" in log, log
    assert "anyone can make the Mail contact say anything" in log, log
    assert st.tidingsd.stop() == 0
    ev["trusted_users"] = "mail"
    offset = st.tidingsd.start()
    assert "writable by every local user" not in st.tidingsd.log(offset)


def test_owner_mode_asks_dovecot_whose_mailbox_it_is(make_stack):
    """trusted_users = owner (Dovecot delivering as each user's own uid):
    an event is taken from the uid Dovecot's userdb gives its mailbox, and
    from no other. (Dovecot's LMTP writes as root; its IMAP processes as
    the mailbox's uid.)"""
    st = make_stack(start_tidings=False,
                    dovecot_kw={"auth_master_listener": "tidings-userdb",
                                "user_uids": {"carol@example.org": 64021,
                                              "alice@example.org": 64022}})
    st.tidingsd.sections["events"]["trusted_users"] = "owner"
    st.tidingsd.sections["events"]["socket_mode"] = "0662"
    st.tidingsd.sections["mail"]["auth_master_socket"] = \
        st.dovecot.auth_master_socket
    offset = st.tidingsd.start()
    carol = st.client("carol")
    # alice's uid claims a mail for carol: refused after asking Dovecot.
    send_as(64022, 64022, st.events_socket,
            forged("carol@example.org", 1, "Not from carol's Dovecot"))
    st.tidingsd.wait_log("refused an event from uid 64022", 5.0,
                         since=offset)
    assert "not the owner of carol@example.org" in st.tidingsd.log(offset)
    # carol's own uid: taken.
    send_as(64021, 64021, st.events_socket,
            forged("carol@example.org", 1, "From carol's uid"))
    n = carol.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert n is not None and n.mail["subject"] == "From carol's uid"
    time.sleep(0.5 * SLOW)
    assert len(carol.messages) == 1, carol.messages
    # Root (Dovecot's LMTP) is always heard: a real delivery to bob.
    bob = st.client("bob")
    st.mail("bob", subject="Delivered")
    n = bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert n is not None and n.mail["subject"] == "Delivered"
