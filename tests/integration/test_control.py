"""tidingsctl and tidingsd's control socket (issue 9) against the real
stack: Dovecot, Prosody and tidingsd, with [control] socket set.

tidingsctl's exit codes: 0 ok, 1 bad news ("ok":false, or status with the
XMPP link down), 2 usage, 3 tidingsd unreachable.
"""

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import tidingsd as td
from tidingsd import SLOW

CTL_TIMEOUT = 15.0


def tidingsctl_binary():
    return os.path.join(td.build_dir(), "bridge", "tidingsctl")


def control_stack(make_stack, userdb=True, **kw):
    """A started stack whose tidingsd has a control socket and, with
    userdb, asks Dovecot's userdb whether a JID is a user."""
    st = make_stack(start_tidings=False, dovecot_kw={
        "auth_master_listener": "tidings-userdb"} if userdb else None, **kw)
    st.control_socket = os.path.join(st.dir, "control.sock")
    st.tidingsd.sections["control"] = {"socket": st.control_socket}
    if userdb:
        st.tidingsd.sections["mail"]["auth_master_socket"] = \
            st.dovecot.auth_master_socket
    st.tidingsd.start()
    st.tidingsd.wait_log("control: listening on", 5.0)
    return st


def ctl(st, *args, config=None, user=None, binary=None):
    """Run tidingsctl; return the CompletedProcess (text)."""
    cmd = [binary or tidingsctl_binary(), "-c",
           config or st.tidingsd.config_path] + list(args)
    if user is not None:
        pw = pwd.getpwnam(user)
        cmd = ["setpriv", "--reuid", str(pw.pw_uid), "--regid",
               str(pw.pw_gid), "--clear-groups", "--"] + cmd
    return subprocess.run(td.wrapper() + cmd, capture_output=True,
                          text=True, errors="replace",
                          timeout=CTL_TIMEOUT * SLOW)


def ctl_json(st, *args):
    r = ctl(st, "--json", *args)
    return r, json.loads(r.stdout) if r.stdout.strip() else None


def wait_status(st, pred, timeout=15.0):
    """Poll `status --json` until pred(returncode, obj); return both."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        r, o = ctl_json(st, "status")
        if o is not None and pred(r.returncode, o):
            return r.returncode, o
        if time.monotonic() > deadline:
            raise AssertionError("status never matched: rc %s %s %s"
                                 % (r.returncode, r.stdout, r.stderr))
        time.sleep(0.2)


class Conn:
    """A raw connection to the control socket, read line by line."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10.0 * SLOW)
        self.sock.connect(path)
        self.reader = self.sock.makefile("rb")

    def sendall(self, data):
        self.sock.sendall(data)

    def close(self):
        self.reader.close()
        self.sock.close()


def raw_conn(st):
    return Conn(st.control_socket)


def read_line(s):
    return s.reader.readline()


def closed_by_daemon(s):
    """tidingsd closed the connection (a reset when it left our request
    unread)."""
    try:
        return s.reader.read(10) == b""
    except ConnectionResetError:
        return True


def test_status_tells_the_truth_while_prosody_is_down(make_stack):
    st = control_stack(make_stack)
    rc, o = wait_status(st, lambda rc, o: o["xmpp"]["up"])
    assert rc == 0 and o["ok"] is True
    assert o["version"] == "0.1.0"
    connects = o["xmpp"]["connects"]
    assert connects >= 1 and o["xmpp"]["up_since"].endswith("Z")
    for section in ("events", "imap", "users", "notifications", "ledger"):
        assert isinstance(o[section], dict), section
    assert o["mail_from_chat"] is None
    # The text form for people.
    r = ctl(st, "status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("tidingsd 0.1.0, up "), r.stdout
    assert "XMPP: up since " in r.stdout and "UTC" in r.stdout
    assert "\nevents: " in r.stdout and "\nIMAP: " in r.stdout

    st.prosody.stop()
    rc, o = wait_status(st, lambda rc, o: not o["xmpp"]["up"])
    assert rc == 1 and o["ok"] is True
    assert o["xmpp"]["up_since"] is None
    assert o["xmpp"]["disconnects"] >= 1
    r = ctl(st, "status")
    assert r.returncode == 1 and "XMPP: DOWN" in r.stdout, r.stdout
    # A notification meanwhile waits in the outbox, and status says so.
    before = o["xmpp"]["outbox"]
    r = ctl(st, "test", st.jid("bob"))
    assert r.returncode == 0, r.stderr
    rc, o = wait_status(st, lambda rc, o: o["xmpp"]["outbox"] > before)
    assert rc == 1 and o["xmpp"]["outbox"] == before + 1

    st.prosody.start()
    rc, o = wait_status(
        st, lambda rc, o: o["xmpp"]["up"] and o["xmpp"]["outbox"] == 0,
        timeout=30.0)
    assert rc == 0
    assert o["xmpp"]["connects"] > connects
    r = ctl(st, "status")
    assert r.returncode == 0 and "XMPP: up since" in r.stdout


def test_user_shows_presence_settings_and_last_notification(make_stack):
    # Without Dovecot's userdb: a user is one tidings has seen.
    st = control_stack(make_stack, userdb=False)
    st.tidingsd.wait_log("presence permission", 10.0)
    bob = st.client("bob")
    time.sleep(0.5 * SLOW)
    st.mail("bob", subject="For the record")
    n = bob.wait_for_message(lambda n: n.mail is not None, 10.0 * SLOW)
    assert n is not None
    r, o = ctl_json(st, "user", st.jid("bob"))
    assert r.returncode == 0, r.stderr
    assert o["ok"] is True and o["jid"] == st.jid("bob")
    assert o["presence"] == "online"
    assert o["settings"]["notify"] == {"value": "yes", "default": True}
    assert o["settings"]["hold_when"]["value"] == "dnd"
    assert o["pending"]["held"] == 0
    last = o["last_notified"]
    assert last and last[0]["mailbox"] == "INBOX"
    assert str(last[0]["uid"]) == str(n.mail["uid"])
    assert last[0]["at"].endswith("Z")
    # A setting the user changed is no longer a default.
    bob.send_chat(st.component, "set notify off")
    deadline = time.monotonic() + 10 * SLOW
    while time.monotonic() < deadline:
        r, o = ctl_json(st, "user", st.jid("bob"))
        if o["settings"]["notify"]["default"] is False:
            break
        time.sleep(0.2)
    assert o["settings"]["notify"] == {"value": "no", "default": False}
    r = ctl(st, "user", st.jid("bob"))
    assert r.returncode == 0
    assert "presence: online" in r.stdout
    assert "notify = no\n" in r.stdout
    assert "summary_on_login = yes (default)" in r.stdout
    assert " INBOX uid %s\n" % n.mail["uid"] in r.stdout

    # Not a user tidings serves: exit 1, and no notification anywhere.
    for jid in ("nosuchuser@" + st.domain, "bob@elsewhere.example",
                st.jid("bob") + "/res", "not a jid"):
        r = ctl(st, "user", jid)
        assert r.returncode in (1, 2), (jid, r.returncode, r.stderr)
        if r.returncode == 1:
            assert "tidingsctl: " in r.stderr, r.stderr
    r, o = ctl_json(st, "user", "nosuchuser@" + st.domain)
    assert r.returncode == 1
    assert o == {"ok": False, "error": "not a user tidings serves: "
                 "nosuchuser@" + st.domain}


def test_user_is_checked_with_dovecot_userdb(make_stack):
    st = control_stack(make_stack)
    # carol never had mail nor presence: Dovecot knows her.
    r, o = ctl_json(st, "user", st.jid("carol"))
    assert r.returncode == 0, r.stderr
    assert o["ok"] is True and o["last_notified"] == []
    r, o = ctl_json(st, "user", "nosuchuser@" + st.domain)
    assert r.returncode == 1
    assert o["error"] == "not a user tidings serves: nosuchuser@" + \
        st.domain


def test_resync_catches_up_mail_whose_event_was_lost(make_stack):
    st = control_stack(make_stack)
    st.tidingsd.wait_log("presence permission", 10.0)
    bob = st.client("bob")
    time.sleep(0.5 * SLOW)
    st.mail("bob", subject="Seen by the event")
    assert bob.wait_for_message(lambda n: n.mail is not None, 10.0 * SLOW)
    # Dovecot's event for the next mail goes nowhere.
    hidden = st.events_socket + ".hidden"
    os.rename(st.events_socket, hidden)
    try:
        st.mail("bob", subject="Event lost")
    finally:
        os.rename(hidden, st.events_socket)
    time.sleep(2.0 * SLOW)
    lost = [n for n in bob.messages
            if n.mail is not None and n.mail["subject"] == "Event lost"]
    assert lost == [], "the event was not lost: the test proves nothing"
    offset = st.tidingsd.log_size()
    r, o = ctl_json(st, "resync", st.jid("bob"))
    assert r.returncode == 0, r.stderr
    assert o["ok"] is True and o["queued"] is True and o["mailboxes"] == 1
    n = bob.wait_for_message(
        lambda n: n.mail is not None and n.mail["subject"] == "Event lost",
        10.0 * SLOW)
    assert n is not None, bob.messages
    st.tidingsd.wait_log("resync asked over the control socket", 1.0,
                         since=offset)
    r = ctl(st, "resync", st.jid("bob"))
    assert r.returncode == 0 and "queued" in r.stdout
    r = ctl(st, "resync", "nosuchuser@" + st.domain)
    assert r.returncode == 1


def test_test_notification_reaches_the_client(make_stack):
    st = control_stack(make_stack)
    bob = st.client("bob")
    r = ctl(st, "test", st.jid("bob"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("test notification sent to %s (id "
                               % st.jid("bob")), r.stdout
    sid = r.stdout.rsplit("(id ", 1)[1].rstrip(")\n")
    n = bob.wait_for_message(lambda n: n.id == sid, 10.0 * SLOW)
    assert n is not None, bob.messages
    assert n.frm == st.component
    assert n.body.startswith("Test notification from tidings, asked by "
                             "the administrator at ")
    assert n.body.endswith(" (UTC).")
    assert "urn:x-tidings:mail:0" in n.xml and ":test" in n.xml or \
        "<test" in n.xml, n.xml


# Run as nobody: 50 connections, each must read exactly "forbidden";
# prints the seconds it took.
FLOOD = """
import json, socket, sys, time
t = time.monotonic()
for _ in range(50):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    f = s.makefile("rb")
    assert json.loads(f.readline()) == {"ok": False, "error": "forbidden"}
    f.close()
    s.close()
print(time.monotonic() - t)
"""


def test_forbidden_peer_learns_nothing(make_stack):
    st = control_stack(make_stack)
    nobody = pwd.getpwnam("nobody")
    pub = tempfile.mkdtemp(prefix="tdc-", dir="/tmp")
    try:
        os.chmod(pub, 0o755)
        # nobody's own copy of the config (0600, theirs), pointing at the
        # socket, and a binary nobody may run.
        binary = os.path.join(pub, "tidingsctl")
        shutil.copy2(tidingsctl_binary(), binary)
        os.chmod(binary, 0o755)
        sock = os.path.join(pub, "control.sock")
        os.link(st.control_socket, sock)
        os.chmod(st.control_socket, 0o666)
        sections = {k: dict(v) for k, v in st.tidingsd.sections.items()}
        sections["control"]["socket"] = sock
        conf = os.path.join(pub, "tidings.conf")
        td.write_config(conf, sections)
        os.chown(conf, nobody.pw_uid, nobody.pw_gid)
        offset = st.tidingsd.log_size()
        for args in (("status",), ("--json", "status"),
                     ("user", st.jid("bob"))):
            r = ctl(st, *args, config=conf, user="nobody", binary=binary)
            assert r.returncode == 1, (args, r.returncode, r.stderr)
            out = r.stdout + r.stderr
            assert "forbidden" in out
            assert "0.1.0" not in out and "xmpp" not in out.lower()
            assert "bob" not in out
        st.tidingsd.wait_log("refused a connection from uid %d"
                             % nobody.pw_uid, 5.0, since=offset)
        # A flood of refused connections: at most one log line a second
        # (after a second without one, so that the first is logged).
        time.sleep(1.1)
        offset = st.tidingsd.log_size()
        flood = subprocess.run(
            ["setpriv", "--reuid", str(nobody.pw_uid), "--regid",
             str(nobody.pw_gid), "--clear-groups", "--", "/usr/bin/python3",
             "-c", FLOOD, sock], capture_output=True, text=True,
            timeout=60 * SLOW)
        assert flood.returncode == 0, flood.stderr
        seconds = float(flood.stdout)
        time.sleep(0.2)
        lines = st.tidingsd.count_log("refused a connection", since=offset)
        assert 1 <= lines <= int(seconds) + 2, (lines, seconds)
        # A config nobody may read: exit 3 with a clear message.
        r = ctl(st, "status", user="nobody", binary=binary)
        assert r.returncode == 3
        assert "permission denied" in r.stderr.lower(), r.stderr
        # root still may.
        assert ctl(st, "status").returncode == 0
    finally:
        shutil.rmtree(pub, ignore_errors=True)


def test_unreachable_and_usage(make_stack):
    st = control_stack(make_stack)
    # No socket at the path: exit 3.
    sections = {k: dict(v) for k, v in st.tidingsd.sections.items()}
    sections["control"]["socket"] = os.path.join(st.dir, "nothing.sock")
    conf = os.path.join(st.dir, "other.conf")
    td.write_config(conf, sections)
    r = ctl(st, "status", config=conf)
    assert r.returncode == 3 and "nothing.sock" in r.stderr, r.stderr
    # No [control] socket at all: exit 3.
    del sections["control"]
    td.write_config(conf, sections)
    r = ctl(st, "status", config=conf)
    assert r.returncode == 3 and "no [control] socket" in r.stderr
    # Usage: exit 2.
    for args in ((), ("frobnicate",), ("user",), ("status", "extra"),
                 ("-t", "0", "status")):
        r = ctl(st, *args)
        assert r.returncode == 2, (args, r.returncode)


def test_reload(make_stack):
    """tidingsctl reload: the same as SIGHUP, with the outcome told."""
    st = control_stack(make_stack)
    # Nothing changed.
    r, o = ctl_json(st, "reload")
    assert r.returncode == 0 and o["ok"] is True, (r.stdout, r.stderr)
    assert o["summary"] == "reload: no change", o
    # One threshold changed, one key that needs a restart.
    st.tidingsd.sections.setdefault("notify", {})["burst_max"] = "7"
    st.tidingsd.sections["xmpp"]["reconnect_max"] = "45s"
    st.tidingsd.write_config()
    r = ctl(st, "reload")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "1 setting applied, 1 needs a restart" in r.stdout, r.stdout
    st.tidingsd.wait_log("[notify] burst_max changed: applied, now 7", 5.0)
    # A file with an error: refused with file:line, the daemon keeps going.
    with open(st.tidingsd.config_path, "a") as f:
        f.write("[notify]\nburst_max = lots\n")
    r, o = ctl_json(st, "reload")
    assert r.returncode == 1 and o["ok"] is False, (r.stdout, r.stderr)
    assert o["error"].startswith(st.tidingsd.config_path + ":"), o
    assert "burst_max" in o["error"], o
    r, o = ctl_json(st, "status")
    assert r.returncode == 0 and o["xmpp"]["up"] is True
    # Even a line no INI reader takes, before [control]: tidingsctl still
    # finds the socket, and tidingsd refuses the file with its line.
    with open(st.tidingsd.config_path) as f:
        text = f.read()
    with open(st.tidingsd.config_path, "w") as f:
        f.write("this line is no INI at all\n" + text)
    r, o = ctl_json(st, "reload")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert o["error"].startswith(st.tidingsd.config_path + ":1:"), o
    # -s names the socket itself (no config file needed).
    r = subprocess.run([tidingsctl_binary(), "-c", "/nonexistent", "-s",
                        st.control_socket, "status"], capture_output=True,
                       text=True, timeout=CTL_TIMEOUT * SLOW)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "XMPP: up since" in r.stdout, r.stdout


def test_connection_limit_and_overlong_line(make_stack):
    st = control_stack(make_stack)
    conns = []
    try:
        for _ in range(16):
            s = raw_conn(st)
            s.sendall(b"status\n")
            assert json.loads(read_line(s))["ok"] is True
            conns.append(s)
        extra = raw_conn(st)
        reply = read_line(extra)
        assert json.loads(reply) == {
            "ok": False, "error": "busy: too many control connections"}
        assert closed_by_daemon(extra)
        extra.close()
        # Several requests on one connection, answered in order.
        conns[0].sendall(b"status\nstatus\r\nbogus\n")
        assert json.loads(read_line(conns[0]))["ok"] is True
        assert json.loads(read_line(conns[0]))["ok"] is True
        assert json.loads(read_line(conns[0])) == {
            "ok": False, "error": "unknown command: bogus"}
    finally:
        for s in conns:
            s.close()
    # The daemon is fine, and has room again.
    rc, o = wait_status(st, lambda rc, o: True)
    assert rc == 0
    s = raw_conn(st)
    s.sendall(b"x" * 2000 + b"\n")
    reply = read_line(s)
    assert json.loads(reply) == {
        "ok": False, "error": "request too long (more than 1024 bytes)"}
    assert closed_by_daemon(s)
    s.close()
    # A line of exactly 1024 bytes is read (and is a bad command).
    s = raw_conn(st)
    s.sendall(b"user " + b"a" * 1019 + b"\n")
    o = json.loads(read_line(s))
    assert o["ok"] is False and "too long" not in o["error"]
    s.close()
    assert st.tidingsd.running
