"""tidings-auth, ejabberd's extauth helper, against a real Dovecot 2.3.

Requests are written to the helper's stdin in ejabberd's framing (a
big-endian uint16 length, then op:user:server[:password]); its stdout must
hold exactly one 4-byte reply per complete request (00 02 00 01 or
00 02 00 00) and nothing else, and it must exit 0 at the end of its input
with nothing reported by the sanitizers. Dovecot serves example.org and
b.org (the XMPP domain chat.b.org, through [domains]), users whose
passwords hold ':' and non-ASCII characters, and a second master user.
ejabberd itself is in test_ejabberd.py.
"""

import os
import pwd
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time

import pytest

import tidingsd as td
from authusers import extra_users_conf
from dovecot import Dovecot, make_traversable
from ejabberd import tidings_auth_binary

YES = b"\x00\x02\x00\x01"
NO = b"\x00\x02\x00\x00"
COLON_PW = "pa:ss:w:"
UTF_PW = "\u00e9t\u00e9 \u20ac:\U0001F511"
MASTER_PW = "master-pw"
SANITIZERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
              "definitely lost in")


def frame(body):
    b = body.encode("utf-8") if isinstance(body, str) else body
    return struct.pack(">H", len(b)) + b


def check_stderr(text):
    for needle in SANITIZERS:
        assert needle not in text, text
    # No password ever reaches the log.
    for pw in ("right", COLON_PW, UTF_PW, MASTER_PW, "d-pw"):
        assert pw not in text, "a password in the log:\n" + text


def helper_cmd(conf, *args):
    return td.wrapper() + [tidings_auth_binary(), "-c", conf] + list(args)


def run_helper(conf, data, *args, timeout=60):
    """Feed `data` to a helper at once; return (stdout bytes, stderr)."""
    r = subprocess.run(helper_cmd(conf, *args), input=data,
                       capture_output=True, timeout=timeout * td.SLOW)
    err = r.stderr.decode("utf-8", "replace")
    check_stderr(err)
    assert r.returncode == 0, err
    return r.stdout, err


class Helper:
    """One tidings-auth fed request by request, as ejabberd does."""

    def __init__(self, conf, *args, as_user=None, workdir=None):
        self.err_path = os.path.join(workdir or os.path.dirname(conf),
                                     "helper-%d.err" % time.monotonic_ns())
        self.err = open(self.err_path, "wb")
        pre = None
        if as_user is not None:
            pw = pwd.getpwnam(as_user)

            def pre():
                os.setgroups([pw.pw_gid])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
        self.proc = subprocess.Popen(helper_cmd(conf, *args),
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=self.err, preexec_fn=pre)

    def ask(self, body, timeout=30.0):
        """Send one request; return (the 4-byte reply, seconds)."""
        t0 = time.monotonic()
        self.proc.stdin.write(frame(body))
        self.proc.stdin.flush()
        return self.read_reply(timeout), time.monotonic() - t0

    def read_reply(self, timeout=30.0):
        out = b""
        deadline = time.monotonic() + timeout * td.SLOW
        fd = self.proc.stdout.fileno()
        while len(out) < 4:
            left = deadline - time.monotonic()
            assert left > 0, "no reply within %.1f s (got %r)" % (timeout,
                                                                 out)
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4 - len(out))
                assert chunk, "the helper closed its stdout:\n" + self.log()
                out += chunk
        return out

    def log(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def close(self, timeout=30.0):
        """End of input: the helper must exit 0 having written nothing
        more."""
        self.proc.stdin.close()
        rc = self.proc.wait(timeout * td.SLOW)
        rest = self.proc.stdout.read()
        self.err.close()
        log = self.log()
        check_stderr(log)
        assert rest == b"", "stray bytes on stdout: %r" % rest
        assert rc == 0, log
        return log


# -- fixtures ------------------------------------------------------------

def ejabberd_listeners():
    """Dovecot listeners the 'ejabberd' user may use, as a deployment
    gives them (see the README): auth-client for passwords, a -userdb
    listener for isuser."""
    return """
service auth {
  unix_listener tidings-client {
    mode = 0600
    user = ejabberd
  }
  unix_listener ejabberd-userdb {
    mode = 0660
    group = ejabberd
  }
}
"""


def start_dovecot(d):
    os.makedirs(d, exist_ok=True)
    make_traversable(d)
    extra = extra_users_conf(os.path.join(d, "extra-users"), {
        "colon@example.org": COLON_PW,
        "utf@example.org": UTF_PW,
        # The target of a master login "bob*mt@example.org": Dovecot
        # splits that into the login user "bob" and the master user
        # "mt@example.org".
        "bob": "plain-bob",
    })
    masters = os.path.join(d, "extra-masters")
    with open(masters, "w") as f:
        f.write("mt@example.org:{PLAIN}%s::::::\n" % MASTER_PW)
    import grp
    os.chown(masters, 0, grp.getgrnam("dovecot").gr_gid)
    os.chmod(masters, 0o640)
    extra += """
passdb {
  driver = passwd-file
  args = %s
  master = yes
  pass = yes
}
# FAILs at once: this module tests answers, not Dovecot's delay.
auth_failure_delay = 0
""" % masters
    dv = Dovecot(d, {"bob@example.org": "right", "alice@example.org": "a-pw",
                     "dave@b.org": "d-pw"},
                 auth_master_listener="tidings-userdb",
                 extra_conf=extra + ejabberd_listeners())
    dv.start()
    return dv


def write_conf(path, dv, mode=0o600, client_socket=None, master_socket=None,
               omit=(), master_password_file=None):
    """tidings.conf for the helper; with master_password_file, that key
    instead of a master_password in the file."""
    sections = {
        "xmpp": {"component": "mail.example.org", "host": "127.0.0.1",
                 "secret": "s3cret-component", "domain": "example.org"},
        "mail": {"domain": "example.org, b.org", "imap_host": "127.0.0.1",
                 "master_user": "tidings",
                 "master_password": "not-used-by-tidings-auth",
                 "auth_client_socket":
                     client_socket or dv.auth_client_socket,
                 "auth_master_socket":
                     master_socket or dv.auth_master_socket},
        "events": {"socket": "/run/tidings-test-unused.sock"},
        "state": {"dir": "/var/lib/tidings-test-unused"},
        "domains": {"b.org": "chat.b.org"},
        "log": {"level": "info"},
    }
    if master_password_file is not None:
        del sections["mail"]["master_password"]
        sections["mail"]["master_password_file"] = master_password_file
    for key in omit:
        del sections["mail"][key]
    return td.write_config(path, sections, mode)


MASTER_PW_WARNING = "holds [mail] master_password and"


@pytest.fixture(scope="module")
def workdir():
    if os.geteuid() != 0:
        pytest.skip("runs Dovecot as root")
    if not os.access(tidings_auth_binary(), os.X_OK):
        pytest.fail("no tidings-auth at %s (build it, or set "
                    "TIDINGS_BUILD)" % tidings_auth_binary())
    d = tempfile.mkdtemp(prefix="tdea-", dir="/tmp")
    yield d
    if not os.environ.get("TIDINGS_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def dv(workdir):
    dv = start_dovecot(os.path.join(workdir, "dv"))
    yield dv
    dv.stop()


@pytest.fixture(scope="module")
def conf(workdir, dv):
    return write_conf(os.path.join(workdir, "tidings.conf"), dv)


# -- answers -------------------------------------------------------------

ANSWERS = [
    ("auth:bob:example.org:right", YES),
    ("auth:bob:example.org:wrong", NO),
    ("auth:bob:example.org:righ", NO),
    ("auth:bob:example.org:", NO),  # an empty password is never asked
    # ejabberd nodepreps names; the helper lower-cases ASCII as well.
    ("auth:BOB:example.org:right", YES),
    ("auth:colon:example.org:" + COLON_PW, YES),
    ("auth:colon:example.org:pa:ss", NO),
    ("auth:utf:example.org:" + UTF_PW, YES),
    ("auth:nobody:example.org:x", NO),
    ("auth:alice:example.org:right", NO),  # bob's password is not alice's
    ("isuser:bob:example.org", YES),
    ("isuser:colon:example.org", YES),
    ("isuser:nobody:example.org", NO),
    # The mail system owns accounts and passwords.
    ("setpass:bob:example.org:new", NO),
    ("auth:bob:example.org:new", NO),
    ("auth:bob:example.org:right", YES),
    ("tryregister:newbie:example.org:pw", NO),
    ("isuser:newbie:example.org", NO),
    ("removeuser:bob:example.org", NO),
    ("removeuser3:bob:example.org:right", NO),
    ("isuser:bob:example.org", YES),
    ("certauth:bob:example.org:MIIBfake", NO),
    ("frobnicate:bob:example.org:right", NO),
    # Only JIDs of served domains: [domains] maps b.org to chat.b.org.
    ("auth:bob:other.org:right", NO),
    ("isuser:bob:other.org", NO),
    ("auth:dave:chat.b.org:d-pw", YES),
    ("isuser:dave:chat.b.org", YES),
    ("auth:dave:b.org:d-pw", NO),
    ("auth:dave:example.org:d-pw", NO),
    ("auth:bob:chat.b.org:right", NO),
    # A master login through a JID with Dovecot's separator: Dovecot says
    # OK (as "bob", auth_user=mt@example.org); the helper says no.
    ("auth:bob*mt:example.org:" + MASTER_PW, NO),
    # Malformed requests.
    ("auth:bob:example.org", NO),
    ("isuser:bob:example.org:extra", NO),
    ("auth::example.org:right", NO),
    ("auth:bob/res:example.org:right", NO),
    (b"auth:bob:example.org:ri\x00ght", NO),
    ("auth:bob:example.org:right", YES),
]


def test_answers(conf):
    data = b"".join(frame(body) for body, _ in ANSWERS)
    t0 = time.monotonic()
    out, err = run_helper(conf, data)
    took = time.monotonic() - t0
    want = b"".join(reply for _, reply in ANSWERS)
    got = [out[i:i + 4] for i in range(0, len(out), 4)]
    wrong = [(ANSWERS[i][0], got[i]) for i in range(min(len(got),
                                                        len(ANSWERS)))
             if got[i] != ANSWERS[i][1]]
    assert wrong == [] and out == want, (wrong, err)
    print("\n%d requests answered in %.2f s" % (len(ANSWERS), took))
    # What was refused, and why, is logged (without the password).
    assert "auth bob@example.org: refused: password mismatch" in err
    assert ("setpass bob@example.org: refused: accounts and passwords are "
            "managed in the mail system") in err
    assert "auth bob@other.org: refused: not a user of a domain" in err
    assert ("auth bob*mt@example.org: refused: Dovecot accepted the "
            "password for another user (bob)") in err
    assert "a malformed request" in err
    # Root reading a 0600 file: nobody else can read the master password.
    assert MASTER_PW_WARNING not in err


def test_requests_in_pieces(conf):
    """ejabberd's writes may reach the helper in any pieces: byte by
    byte, with pauses, and several requests in one read."""
    h = Helper(conf)
    try:
        data = frame("auth:bob:example.org:right") + \
            frame("isuser:nobody:example.org")
        for b in data:
            h.proc.stdin.write(bytes([b]))
            h.proc.stdin.flush()
            time.sleep(0.002)
        assert h.read_reply() == YES
        assert h.read_reply() == NO
        h.proc.stdin.write(frame("auth:colon:example.org:" + COLON_PW) * 3)
        h.proc.stdin.flush()
        assert [h.read_reply() for _ in range(3)] == [YES] * 3
    finally:
        h.close()


def test_huge_zero_and_partial_frames(conf):
    big = b"auth:bob:example.org:" + b"x" * 9000  # over the 8 KiB bound
    largest = b"isuser:bob:example.org" + b"y" * (65535 - 22)
    data = (frame(big) + frame("auth:bob:example.org:right") +
            frame(largest) + b"\x00\x00" + frame("isuser:bob:example.org") +
            frame(b"\xff\xfe\x00garbage") +
            # At the bound exactly: stored and checked (wrong password).
            frame(b"auth:bob:example.org:" + b"z" * (8192 - 21)) +
            # A partial request: the input ends inside it.
            b"\x00\x40auth:bob:exa")
    out, err = run_helper(conf, data)
    assert out == NO + YES + NO + NO + YES + NO + NO
    assert err.count("a request over 8192 bytes: skipped") == 2
    assert "input ended inside a request; exiting" in err
    # Nothing at all: exits at once, silently.
    out, err = run_helper(conf, b"")
    assert out == b""
    # A header byte only.
    out, err = run_helper(conf, b"\x00")
    assert out == b"" and "input ended inside a request" in err


def test_stdout_is_replies_only(conf, workdir):
    """-h and -V print to stdout, but a running helper writes nothing but
    replies there: fd 1 itself points at stderr once it runs."""
    h = Helper(conf, "-d")
    try:
        reply, _ = h.ask("auth:bob:example.org:right")
        assert reply == YES
        fd1 = os.readlink("/proc/%d/fd/1" % h.proc.pid)
        fd2 = os.readlink("/proc/%d/fd/2" % h.proc.pid)
        assert fd1 == fd2, (fd1, fd2)
    finally:
        log = h.close()
    # At debug level the successes are logged too, still without secrets.
    assert "auth bob@example.org: ok" in log


# -- configuration and permissions ---------------------------------------

def test_config_checks(workdir, dv):
    d = os.path.join(workdir, "conf-checks")
    os.makedirs(d, exist_ok=True)
    # Readable by others: refused, like tidingsd does.
    c = write_conf(os.path.join(d, "open.conf"), dv, mode=0o644)
    r = subprocess.run(helper_cmd(c), input=frame("isuser:bob:example.org"),
                       capture_output=True, timeout=30)
    assert r.returncode == 1 and r.stdout == b""
    assert b"readable by others" in r.stderr
    # Without the sockets it needs.
    for key in ("auth_client_socket", "auth_master_socket"):
        c = write_conf(os.path.join(d, "no-%s.conf" % key), dv, omit=[key])
        r = subprocess.run(helper_cmd(c), input=b"", capture_output=True,
                           timeout=30)
        assert r.returncode == 1 and r.stdout == b""
        assert b"auth_client_socket" in r.stderr
    # As root, a master password its group can read is worth the same
    # warning (that group is presumably there for the XMPP server).
    c = write_conf(os.path.join(d, "group.conf"), dv, mode=0o640)
    out, err = run_helper(c, frame("isuser:bob:example.org"))
    assert out == YES
    assert err.count(MASTER_PW_WARNING) == 1, err
    assert ("%s holds [mail] master_password and its group (gid 0) can "
            "read it" % c) in err, err
    # Bad options.
    for args in (["-t", "99"], ["-t", "30000"], ["-t", "1x"], ["extra"]):
        r = subprocess.run(helper_cmd(c, *args), input=b"",
                           capture_output=True, timeout=30)
        assert r.returncode == 2 and r.stdout == b""


def test_as_the_ejabberd_user_through_a_group(workdir, dv):
    """The deployment the README describes: tidings.conf is root:GROUP
    0640 with ejabberd in GROUP (here the group is ejabberd's own), and
    Dovecot gives ejabberd an auth-client and a -userdb listener."""
    try:
        ej = pwd.getpwnam("ejabberd")
    except KeyError:
        pytest.skip("no ejabberd user (Debian's ejabberd package)")
    d = os.path.join(workdir, "as-ejabberd")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    make_traversable(d)
    # The build tree may not be reachable for another user: a copy.
    binary = os.path.join(d, "tidings-auth")
    shutil.copy2(tidings_auth_binary(), binary)
    os.chmod(binary, 0o755)
    c = write_conf(os.path.join(d, "tidings.conf"), dv, mode=0o640,
                   client_socket=os.path.join(dv.base_dir, "tidings-client"),
                   master_socket=os.path.join(dv.base_dir,
                                              "ejabberd-userdb"))
    os.chown(c, 0, ej.pw_gid)

    def run_as(conf_path, data):
        def pre():
            os.setgroups([ej.pw_gid])
            os.setgid(ej.pw_gid)
            os.setuid(ej.pw_uid)
        return subprocess.run(td.wrapper() + [binary, "-c", conf_path],
                              input=data, capture_output=True, timeout=60,
                              preexec_fn=pre)

    data = frame("auth:bob:example.org:right") + \
        frame("auth:bob:example.org:wrong") + \
        frame("isuser:bob:example.org") + frame("isuser:ghost:example.org")
    r = run_as(c, data)
    err = r.stderr.decode("utf-8", "replace")
    check_stderr(err)
    assert r.returncode == 0, r.stderr
    assert r.stdout == YES + NO + YES + NO, r.stderr
    # The master password written in tidings.conf is readable by the
    # ejabberd user: one warning, naming the way out.
    assert err.count(MASTER_PW_WARNING) == 1, err
    assert ("tidings-auth: %s holds [mail] master_password and this helper, "
            "running as the XMPP server's user (uid %d), can read it"
            % (c, ej.pw_uid)) in err, err
    assert "master_password_file" in err
    # With the password in master_password_file, which only root (here:
    # tidingsd's user) can read, the helper works the same and says
    # nothing: it never opens that file.
    pw_file = os.path.join(d, "master-password")
    with open(pw_file, "w") as f:
        f.write(MASTER_PW + "\n")
    os.chmod(pw_file, 0o600)
    cf = write_conf(os.path.join(d, "pw-file.conf"), dv, mode=0o640,
                    client_socket=os.path.join(dv.base_dir,
                                               "tidings-client"),
                    master_socket=os.path.join(dv.base_dir,
                                               "ejabberd-userdb"),
                    master_password_file=pw_file)
    os.chown(cf, 0, ej.pw_gid)
    denied = subprocess.run(
        ["setpriv", "--reuid=%d" % ej.pw_uid, "--regid=%d" % ej.pw_gid,
         "--clear-groups", "cat", pw_file], capture_output=True)
    assert denied.returncode != 0 and denied.stdout == b"", denied
    r = run_as(cf, data)
    err = r.stderr.decode("utf-8", "replace")
    check_stderr(err)
    assert r.returncode == 0, err
    assert r.stdout == YES + NO + YES + NO, err
    assert MASTER_PW_WARNING not in err, err
    # tidingsd (root here) reads it.
    cp = td.check_config(cf)
    assert cp.returncode == 0, cp.stderr
    assert "\nmaster_password_file = %s\n" % pw_file in cp.stdout
    assert MASTER_PW not in cp.stdout
    # ... but not once its group may read it, as tidings.conf's may.
    os.chmod(pw_file, 0o640)
    cp = td.check_config(cf)
    assert cp.returncode == 1 and cp.stdout == "", cp.stdout
    assert ("%s: holds the master password but is readable by its group "
            "(mode 0640); run chmod 600 %s" % (pw_file, pw_file)) \
        in cp.stderr, cp.stderr
    # The helper does not care: it never opens the file.
    r = run_as(cf, data)
    assert r.returncode == 0 and r.stdout == YES + NO + YES + NO, r.stderr
    # Root's own sockets are closed to it: every check fails, cleanly.
    c2 = write_conf(os.path.join(d, "root-sockets.conf"), dv, mode=0o640)
    os.chown(c2, 0, ej.pw_gid)
    r = run_as(c2, data)
    assert r.returncode == 0 and r.stdout == NO * 4, r.stderr
    assert b"permission denied" in r.stderr.lower()
    # Without the group the file cannot be read at all.
    os.chown(c, 0, 0)
    r = run_as(c, data)
    assert r.returncode == 1 and r.stdout == b""
    assert b"permission denied" in r.stderr.lower()


# -- Dovecot going away or hanging ---------------------------------------

@pytest.fixture
def own_dv(workdir):
    d = tempfile.mkdtemp(prefix="dv-", dir=workdir)
    dv = start_dovecot(d)
    yield dv
    dv.stop()


def auth_process(dv):
    """The pid of Dovecot's auth service process (a child of the
    master)."""
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid",
                          str(dv.proc.pid)], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        pid, args = line.strip().split(None, 1)
        # "dovecot/auth", or "<instance_name>/auth" (dovecot.py names it)
        if args.split()[0].endswith("/auth"):
            return int(pid)
    raise RuntimeError("no dovecot/auth process:\n" + out)


def test_dovecot_down_and_back(workdir, own_dv):
    c = write_conf(os.path.join(os.path.dirname(own_dv.dir), "t.conf"),
                   own_dv)
    h = Helper(c)
    try:
        assert h.ask("auth:bob:example.org:right")[0] == YES
        pid = auth_process(own_dv)
        own_dv.stop()
        # Dovecot 2.3's auth process outlives its master as long as
        # clients stay connected (it went on answering the helper):
        # Dovecot down for good means that process gone too.
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while os.path.exists("/proc/%d" % pid):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        reply, secs = h.ask("auth:bob:example.org:right")
        assert reply == NO and secs < 5
        reply, secs = h.ask("isuser:nobody:example.org")
        assert reply == NO and secs < 5
        own_dv.start()
        # The helper reconnects by itself (after its back-off).
        deadline = time.monotonic() + 10
        while h.ask("auth:bob:example.org:right")[0] != YES:
            assert time.monotonic() < deadline, h.log()
            time.sleep(0.2)
        assert h.ask("isuser:bob:example.org")[0] == YES
    finally:
        log = h.close()
    assert "connect" in log


def test_hung_dovecot_times_out(workdir, own_dv):
    """A Dovecot whose auth process hangs must not hold a request longer
    than the helper's timeout (ejabberd gives up after 30 s)."""
    c = write_conf(os.path.join(os.path.dirname(own_dv.dir), "t.conf"),
                   own_dv)
    h = Helper(c, "-t", "1500")
    try:
        assert h.ask("auth:bob:example.org:right")[0] == YES
        pid = auth_process(own_dv)  # started on demand
        os.kill(pid, signal.SIGSTOP)
        try:
            reply, secs = h.ask("auth:bob:example.org:right")
            assert reply == NO and 1.4 < secs < 5, secs
            reply, secs = h.ask("isuser:alice:example.org")
            assert reply == NO and secs < 5, secs
        finally:
            os.kill(pid, signal.SIGCONT)
        # Dovecot is back: the next requests work on a new connection.
        deadline = time.monotonic() + 10
        while h.ask("auth:bob:example.org:right")[0] != YES:
            assert time.monotonic() < deadline, h.log()
        assert h.ask("isuser:alice:example.org")[0] == YES
    finally:
        log = h.close()
    assert "timed out after 1500 ms" in log
