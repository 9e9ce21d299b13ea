"""SIGHUP reloads tidingsd's configuration, and [log] target = syslog.

Real Dovecot, Prosody and tidingsd: the config file is edited and tidingsd
gets SIGHUP, as an admin would do. What may change applies at once
(thresholds, [defaults], log level, trusted users); what needs a restart
is logged and kept while the daemon stays connected; a file with an error
changes nothing (file:line in the log) and tidingsd goes on notifying.
Every notification leaves one info line in the log.

The syslog test runs tidingsd in its own mount namespace (unshare -m),
whose /dev is a tmpfs of links to the real devices plus /dev/log pointing
at a datagram socket of the test: the host's /dev is not touched.
"""

import os
import pwd
import re
import signal
import socket
import subprocess
import time

import tidingsd as td
from test_events_trust import send_as
from tidingsd import SLOW

NOBODY = pwd.getpwnam("nobody").pw_uid
MAIL = pwd.getpwnam("mail")


def reload(st, edit=None):
    """Apply edit(sections) to tidingsd's config, rewrite the file, send
    SIGHUP and wait for the outcome; return the log since the signal."""
    t = st.tidingsd
    if edit is not None:
        edit(t.sections)
        t.write_config()
    offset = t.log_size()
    os.kill(t.pid, signal.SIGHUP)
    t.wait_log("reload: ", 5.0, since=offset)
    t.wait_log("SIGHUP: reloading", 5.0, since=offset)
    deadline = time.monotonic() + 5.0 * SLOW
    while time.monotonic() < deadline:
        log = t.log(offset)
        if re.search(r"reload: (refused|no change|\d+ settings? applied)",
                     log):
            return log
        time.sleep(0.02)
    raise AssertionError("no reload outcome logged:\n" + t.log(offset))


def notices(client):
    return [n for n in client.messages
            if n.mail is not None or n.digest is not None]


def event(user, uid, subject):
    return {"v": 1, "event": "MessageNew", "user": user, "mailbox": "INBOX",
            "uidvalidity": 1, "uid": uid, "from_address": "a@example.org",
            "subject": subject}


def test_thresholds_defaults_and_log_level(make_stack):
    st = make_stack(notify={"burst_max": 1000, "burst_window": "1s"},
                    log={"level": "info"}, start_tidings=False)
    st.tidingsd.sections["defaults"] = {"notify": "no"}
    st.tidingsd.start()
    bob = st.client("bob")
    carol = st.client("carol")
    offset = st.tidingsd.log_size()
    st.mail("bob", subject="Before")
    st.tidingsd.wait_log("bridge(bob@example.org): not notified INBOX "
                         "uid 1: notify off", 5.0, since=offset)
    time.sleep(0.5 * SLOW)
    assert notices(bob) == []

    def edit(s):
        s["defaults"]["notify"] = "yes"
        s["notify"]["burst_max"] = "0"
        s["notify"]["burst_window"] = "3s"
        s["log"]["level"] = "debug"
    log = reload(st, edit)
    assert "reload: [defaults] notify changed: applied, now yes (was no)" \
        in log, log
    assert "reload: [notify] burst_max changed: applied, now 0 (was " \
        "1000)" in log, log
    assert "reload: [log] level changed: applied, now debug (was info)" \
        in log, log
    assert "reload: 4 settings applied, 0 need a restart" in log, log

    # burst_max 0: two mails in a row are one digest now, not two singles
    # as before; and debug lines appear. (carol: bob's first mail, not
    # notified then, may be caught up into his next notification.)
    offset = st.tidingsd.log_size()
    st.mail("carol", subject="After 1")
    st.mail("carol", subject="After 2")
    n = carol.wait_for_message(lambda n: n.digest is not None, 10.0 * SLOW)
    assert n is not None, carol.messages
    assert n.digest["count"] == 2, n
    assert [m["subject"] for m in n.digest["mails"]] == ["After 1",
                                                         "After 2"]
    st.tidingsd.wait_log("bridge(carol@example.org): notified a digest of "
                         "2 mails: INBOX uids 1-2 (id %s)" % n.id, 5.0,
                         since=offset)
    log = st.tidingsd.log(offset)
    assert "debug: bridge(carol@example.org): held INBOX uid 1 for a " \
        "digest" in log, log
    assert len(notices(carol)) == 1

    # Back to info: the debug lines stop.
    log = reload(st, lambda s: s["log"].update(level="info"))
    assert "reload: 1 setting applied" in log, log
    offset = st.tidingsd.log_size()
    st.mail("carol", subject="After 3")
    carol.wait_for_message(lambda n: n.mail is not None, 10.0 * SLOW)
    st.tidingsd.wait_log("bridge(carol@example.org): notified INBOX uid 3 "
                         "(single, id tm1-", 5.0, since=offset)
    assert "debug:" not in st.tidingsd.log(offset)


def test_trusted_users_follow_a_reload(make_stack):
    st = make_stack()
    bob = st.client("bob")
    offset = st.tidingsd.log_size()
    send_as(NOBODY, MAIL.pw_gid, st.events_socket,
            event("bob@example.org", 5, "From nobody, refused"))
    st.tidingsd.wait_log("refused an event from uid %d" % NOBODY, 5.0,
                         since=offset)

    log = reload(st, lambda s: s["events"].update(
        trusted_users="mail, nobody"))
    assert "reload: [events] trusted_users changed: applied, now " \
        "mail, nobody (was mail)" in log, log
    send_as(NOBODY, MAIL.pw_gid, st.events_socket,
            event("bob@example.org", 1, "From nobody, heard"))
    n = bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert n is not None and n.mail["subject"] == "From nobody, heard"

    # And back: refused again.
    reload(st, lambda s: s["events"].update(trusted_users="mail"))
    offset = st.tidingsd.log_size()
    send_as(NOBODY, MAIL.pw_gid, st.events_socket,
            event("bob@example.org", 6, "Refused again"))
    deadline = time.monotonic() + 5.0 * SLOW
    while time.monotonic() < deadline:
        if "refused" in st.tidingsd.log(offset):
            break
        time.sleep(0.05)
    time.sleep(0.5 * SLOW)
    assert [n.mail["subject"] for n in notices(bob)] == \
        ["From nobody, heard"]


def test_restart_only_changes_are_kept(make_stack):
    st = make_stack()
    bob = st.client("bob")
    t = st.tidingsd
    port = t.sections["xmpp"]["port"]
    secret = t.sections["xmpp"]["secret"]
    connects = t.count_log("xmpp: connected to")

    def edit(s):
        s["xmpp"]["port"] = str(int(port) + 1)
        s["xmpp"]["secret"] = "a-new-secret-nobody-may-read"
        s["events"]["socket_mode"] = "0600"
    log = reload(st, edit)
    assert "warn: reload: [xmpp] port changed: needs a restart, kept " \
        "%s (the file says %d)" % (port, int(port) + 1) in log, log
    assert "warn: reload: [xmpp] secret changed: needs a restart, kept " \
        "the running value" in log, log
    assert "warn: reload: [events] socket_mode changed: needs a restart, " \
        "kept 0660" in log, log
    assert "reload: 0 settings applied, 3 need a restart" in log, log
    assert "a-new-secret" not in t.log() and secret not in t.log()
    assert os.stat(st.events_socket).st_mode & 0o777 == 0o660

    # Still connected on the old port, still notifying.
    offset = t.log_size()
    st.mail("bob", subject="Still here")
    n = bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert n is not None and n.mail["subject"] == "Still here"
    t.wait_log("notified INBOX uid 1 (single, id %s)" % n.id, 5.0,
               since=offset)
    assert t.count_log("xmpp: connected to") == connects
    assert "xmpp: disconnected" not in t.log(offset)


def test_broken_config_keeps_the_running_one(make_stack):
    st = make_stack(notify={"burst_max": 1000, "burst_window": "1s"})
    bob = st.client("bob")
    t = st.tidingsd

    text = open(t.config_path).read().replace(
        "burst_max = 1000", "burst_max = a thousand")
    td.write_config(t.config_path, text)
    line = text.splitlines().index("burst_max = a thousand") + 1
    log = reload(st)
    assert ("error: reload: refused, keeping the running configuration: "
            "%s:%d: " % (t.config_path, line)) in log, log
    assert "applied" not in log
    assert t.running

    # Unknown key, and a file others may read: refused too.
    td.write_config(t.config_path, text.replace("burst_max = a thousand",
                                                "burst_maxx = 5"))
    log = reload(st)
    assert "refused, keeping the running configuration: %s:%d: unknown " \
        "key 'burst_maxx'" % (t.config_path, line) in log, log
    t.write_config()
    os.chmod(t.config_path, 0o644)
    log = reload(st)
    assert "refused, keeping the running configuration: %s: holds " \
        "secrets" % t.config_path in log, log

    # The old configuration goes on: two mails, two single notifications
    # (burst_max 1000), two info lines.
    offset = t.log_size()
    st.mail("bob", subject="Subject-Alpha")
    st.mail("bob", subject="Subject-Beta")
    got = bob.wait_for_count(2, lambda n: n.mail is not None, 10.0 * SLOW)
    assert [n.mail["subject"] for n in got] == ["Subject-Alpha",
                                                "Subject-Beta"]
    t.wait_log("bridge(bob@example.org): notified INBOX uid 2 (single, "
               "id %s)" % got[1].id, 5.0, since=offset)
    log = t.log(offset)
    assert "bridge(bob@example.org): notified INBOX uid 1 (single, id " \
        "%s)" % got[0].id in log, log
    assert len(re.findall(r"bridge\(bob@example.org\): notified ", log)) \
        == 2, log
    # No subject in the trail.
    assert "Subject-" not in log


# -- syslog ------------------------------------------------------------------

NS_SCRIPT = r"""
set -e
old="$1"; sock="$2"; shift 2
mount --make-rprivate /
mount --rbind /dev "$old"
mount -t tmpfs -o mode=755 tidings-test-dev /dev
ln -s "$old"/* /dev/
rm -f /dev/log
ln -s "$sock" /dev/log
exec "$@"
"""


class SyslogSink:
    """A datagram socket standing in for /dev/log."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.lines = []

    def wait(self, needle, timeout=10.0):
        deadline = time.monotonic() + timeout * SLOW
        while True:
            for line in self.lines:
                if needle in line:
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%r not sent to syslog; got:\n%s"
                                     % (needle, "\n".join(self.lines[-30:])))
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            self.lines.append(data.decode("utf-8", "replace"))

    def drain(self, quiet=0.5):
        """Read what arrived until nothing comes for `quiet` seconds."""
        self.sock.settimeout(quiet * SLOW)
        while True:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return
            self.lines.append(data.decode("utf-8", "replace"))

    def close(self):
        self.sock.close()


def test_syslog_target(make_stack, tmpdir_short):
    st = make_stack(start_tidings=False, log={"level": "info",
                                              "target": "syslog"})
    t = st.tidingsd
    t.write_config()
    sink = SyslogSink(os.path.join(tmpdir_short, "log.sock"))
    old_dev = os.path.join(tmpdir_short, "dev")
    os.mkdir(old_dev)
    cmd = (["unshare", "-m", "sh", "-c", NS_SCRIPT, "tidings-ns", old_dev,
            sink.path] + td.wrapper() + [td.binary(), "-c", t.config_path])
    try:
        with open(t.log_path, "ab") as log:
            t.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=log, cwd=t.dir)
        pid = t.proc.pid
        # mail facility (2), info (6): <22>; ident tidingsd with the pid;
        # no timestamp of ours after the ident.
        line = sink.wait("tidingsd[%d]: info: tidingsd 0.1.0 starting" % pid)
        assert line.startswith("<22>"), line
        sink.wait("tidingsd[%d]: info: events: listening on" % pid)
        sink.wait("info: xmpp: connected to")
        bob = st.client("bob")
        st.mail("bob", subject="Via syslog")
        n = bob.wait_for_message(lambda n: n.mail is not None, 10.0 * SLOW)
        assert n is not None
        line = sink.wait("bridge(bob@example.org): notified INBOX uid 1 "
                         "(single, id %s)" % n.id)
        assert re.match(r"<22>\w{3} [ \d]\d \d\d:\d\d:\d\d tidingsd\[%d\]: "
                        r"info: bridge\(bob@example.org\): notified INBOX "
                        r"uid 1 \(single, id tm1-[^)]*\)$" % pid, line), line
        # Nothing of it on stderr.
        assert "notified" not in t.log() and "starting" not in t.log()

        # A reload to facility local3 (19 << 3 | info = 158): the summary
        # of the reload still goes out as before, the lines after it with
        # the new facility.
        t.sections["log"]["facility"] = "local3"
        t.write_config()
        os.kill(pid, signal.SIGHUP)
        line = sink.wait("reload: 1 setting applied")
        assert line.startswith("<22>"), line
        st.mail("bob", subject="Via local3")
        bob.wait_for_count(2, lambda n: n.mail is not None, 10.0 * SLOW)
        line = sink.wait("bridge(bob@example.org): notified INBOX uid 2 ")
        assert line.startswith("<158>"), line

        # Back to stderr: the summary still goes to syslog, what follows
        # to stderr.
        t.sections["log"]["target"] = "stderr"
        t.write_config()
        offset = t.log_size()
        os.kill(pid, signal.SIGHUP)
        sink.wait("reload: [log] target changed: applied, now stderr")
        st.mail("bob", subject="Via stderr")
        bob.wait_for_count(3, lambda n: n.mail is not None, 10.0 * SLOW)
        t.wait_log("info: bridge(bob@example.org): notified INBOX uid 3",
                   5.0, since=offset)
        sink.drain()
        assert not any("uid 3" in x for x in sink.lines)
    finally:
        if t.running:
            t.stop()
        sink.close()


def test_tidings_auth_follows_the_syslog_target(tidingsd_binary,
                                                tmpdir_short):
    """tidings-auth logs to stderr (ejabberd copies it) unless the same
    file says target = syslog: then to syslog as tidings-auth[PID]."""
    from ejabberd import tidings_auth_binary
    conf = os.path.join(tmpdir_short, "tidings.conf")
    sections = {
        "xmpp": {"component": "mail.example.org", "host": "127.0.0.1",
                 "secret": "s3cret", "domain": "example.org"},
        "mail": {"domain": "example.org", "imap_host": "127.0.0.1",
                 "master_user": "tidings", "master_password": "pw",
                 "auth_client_socket": os.path.join(tmpdir_short, "ac"),
                 "auth_master_socket": os.path.join(tmpdir_short, "am")},
        "events": {"socket": os.path.join(tmpdir_short, "ev.sock")},
        "state": {"dir": os.path.join(tmpdir_short, "state")},
        "log": {"target": "syslog", "facility": "daemon"},
    }
    td.write_config(conf, sections)
    sink = SyslogSink(os.path.join(tmpdir_short, "log.sock"))
    old_dev = os.path.join(tmpdir_short, "dev")
    os.mkdir(old_dev)
    request = b"isuser:bob:other.example.org"
    framed = len(request).to_bytes(2, "big") + request
    try:
        for target in ("syslog", "stderr"):
            sections["log"]["target"] = target
            td.write_config(conf, sections)
            p = subprocess.Popen(
                ["unshare", "-m", "sh", "-c", NS_SCRIPT, "tidings-ns",
                 old_dev, sink.path] + td.wrapper() +
                [tidings_auth_binary(), "-c", conf],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE)
            out, err = p.communicate(framed, timeout=30 * SLOW)
            assert p.returncode == 0, err
            assert out == b"\x00\x02\x00\x00"  # false
            needle = ("info: tidings-auth: isuser bob@other.example.org: "
                      "refused: not a user of a domain tidings serves")
            if target == "syslog":
                # daemon facility (3), info: <30>.
                line = sink.wait("tidings-auth[%d]: %s" % (p.pid, needle))
                assert line.startswith("<30>"), line
                assert b"isuser" not in err, err
            else:
                assert needle.encode() in err, err
                sink.drain()
                assert not any("[%d]" % p.pid in x for x in sink.lines)
    finally:
        sink.close()
