"""A throwaway Dovecot for the integration suite (stdlib only, run as root).

    from dovecot import Dovecot
    dv = Dovecot(tmpdir, {"alice@example.org": "pw"},
                 master_user="tidings", master_password="mpw",
                 push_socket="/path/events.sock")  # optional
    dv.start()                      # waits until IMAP and LMTP accept
    secs = dv.deliver("alice@example.org", b"Subject: hi\\r\\n\\r\\nbody\\r\\n")
    im = dv.imap("alice@example.org")          # imaplib.IMAP4, logged in
    im = dv.imap_master("alice@example.org")   # as alice*tidings
    dv.reload(); dv.stop()

Constructor: Dovecot(tmpdir, users, master_user="tidings",
master_password=<random>, push_socket=None, extra_conf="", imap_port=None,
lmtp_port=None, ssl_cert=None, ssl_key=None, ssl="required",
imaps_port=None, auth_master_listener=None, user_uids=None). users maps
full addresses to plain-text passwords.
Ports default to free loopback ports (pin them to restart on the same ones).
TLS: given ssl_cert and ssl_key (PEM files), Dovecot runs with
`ssl = <ssl>` ("required" or "yes"), `disable_plaintext_auth = yes`,
TLS >= 1.2, STARTTLS on imap_port and implicit TLS on imaps_port; every
login is then logged with ", TLS" (see login_lines()). Note that Dovecot
counts a loopback connection as secured: it would accept LOGIN in clear
from 127.0.0.1 even so. Without ssl_cert, TLS is off (`ssl = no`).
When push_socket is given, the Lua push driver
(examples/dovecot/tidings-push.lua) is enabled for LMTP and IMAP with the
plugin setting tidings_socket = push_socket; otherwise no push plugin loads.
extra_conf is appended verbatim to the generated dovecot.conf.
auth_master_listener (e.g. "tidings-userdb" or "tidings-master") adds
`service auth { unix_listener NAME { mode = 0600 user = root } }`; its
path is then auth_master_socket (else None). Dovecot decides what such a
listener serves by the end of its name (-userdb: USER/PASS/LIST; -master:
also REQUEST/CACHE-FLUSH). user_uids maps some users to their own uid
(the passwd-file's uid column); the others get the mail uid from
default_fields. IMAP and LMTP only work for users with the mail uid
(first_valid_uid = last_valid_uid); userdb lookups work for all.

Attributes: dir, conf_path, base_dir, log_path, imap_port, lmtp_port,
imaps_port (None without TLS), auth_client_socket (for Prosody's
mod_auth_dovecot; usable by root), auth_master_socket, mail_dir,
master_user, master_password, users, push_socket, ssl_cert, ssl_key, ssl.

Each user's namespace has a mailbox "Sent" with special_use = \\Sent and
auto = subscribe (created when first used), as Debian's 15-mailboxes.conf.

Mail is stored as maildir under <tmpdir>/mail/<domain>/<user>, owned by the
'mail' user (uid 8): Dovecot never stores mail as root. The LMTP and IMAP
processes, and so the Lua script, run as that uid: tmpdir and its parents are
made traversable (o+x) so that a push_socket inside tmpdir is reachable.
Dovecot runs in the foreground (dovecot -F) as a child of the test.

Helpers: lmtp_deliver(port, rcpt, message, sender) -> seconds, and
delivery_latency(dv, rcpt, n=200) -> {"median_ms", "p90_ms", "p99_ms",
"mean_ms", "n"} over n LMTP deliveries (used by the benchmark). Run
`python3 dovecot.py bench [N]` to print delivery times without push, with
push and a listener, and with push but nobody listening.
"""

import email.utils
import grp
import imaplib
import os
import pwd
import secrets
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import procutil
from procutil import free_port  # noqa: F401 (part of this module's API)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PUSH_SCRIPT = os.path.join(REPO, "examples", "dovecot", "tidings-push.lua")
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
MAIL_USER = "mail"


def wait_port(port, timeout=15.0, proc=None):
    """Wait until 127.0.0.1:port accepts; raise RuntimeError on timeout."""
    procutil.wait_port(port, timeout, proc, what="dovecot")


def lmtp_deliver(port, rcpt, message, sender="sender@example.net",
                 host="127.0.0.1"):
    """Deliver one message over LMTP; return the seconds it took.

    Raises smtplib.SMTPRecipientsRefused (or another SMTPException) when
    Dovecot does not accept the mail for rcpt.
    """
    if isinstance(message, str):
        message = message.encode("utf-8")
    t0 = time.monotonic()
    with smtplib.LMTP(host, port, timeout=30) as s:
        refused = s.sendmail(sender, [rcpt], message)
    elapsed = time.monotonic() - t0
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)
    return elapsed


def mail_gid():
    """The group of the uid Dovecot delivers as (MAIL_USER)."""
    return pwd.getpwnam(MAIL_USER).pw_gid


def make_traversable(path):
    """Add o+x to path and each parent, so the mail uid can reach files."""
    path = os.path.abspath(path)
    while True:
        st = os.stat(path)
        if not st.st_mode & 0o001:
            os.chmod(path, (st.st_mode & 0o7777) | 0o001)
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


class Dovecot:
    """One private Dovecot instance; see the module docstring."""

    def __init__(self, tmpdir, users, master_user="tidings",
                 master_password=None, push_socket=None, extra_conf="",
                 imap_port=None, lmtp_port=None, ssl_cert=None, ssl_key=None,
                 ssl="required", imaps_port=None,
                 auth_master_listener=None, user_uids=None):
        self.dir = os.path.join(str(tmpdir), "dovecot")
        self.users = dict(users)
        self.master_user = master_user
        self.master_password = master_password or secrets.token_hex(12)
        self.push_socket = push_socket
        self.extra_conf = extra_conf
        self.imap_port = imap_port or free_port()
        self.lmtp_port = lmtp_port or free_port()
        if (ssl_cert is None) != (ssl_key is None):
            raise ValueError("ssl_cert and ssl_key go together")
        if ssl not in ("required", "yes"):
            raise ValueError("ssl must be 'required' or 'yes'")
        self.ssl_cert = ssl_cert
        self.ssl_key = ssl_key
        self.ssl = ssl
        self.imaps_port = (imaps_port or free_port()) if ssl_cert else None
        self.base_dir = os.path.join(self.dir, "run")
        self.state_dir = os.path.join(self.dir, "state")
        self.mail_dir = os.path.join(str(tmpdir), "mail")
        self.conf_path = os.path.join(self.dir, "dovecot.conf")
        self.log_path = os.path.join(self.dir, "dovecot.log")
        self.auth_client_socket = os.path.join(self.base_dir, "auth-client")
        self.auth_master_listener = auth_master_listener
        self.auth_master_socket = (
            os.path.join(self.base_dir, auth_master_listener)
            if auth_master_listener else None)
        self.user_uids = dict(user_uids or {})
        self.proc = None
        pw = pwd.getpwnam(MAIL_USER)
        self.mail_uid, self.mail_gid = pw.pw_uid, pw.pw_gid

    # -- configuration -------------------------------------------------

    def _write_files(self):
        for d in (self.dir, self.base_dir, self.state_dir):
            os.makedirs(d, exist_ok=True)
        os.makedirs(self.mail_dir, exist_ok=True)
        os.chown(self.mail_dir, self.mail_uid, self.mail_gid)
        make_traversable(self.mail_dir)
        make_traversable(self.dir)
        users_file = os.path.join(self.dir, "users")
        with open(users_file, "w") as f:
            for user, password in self.users.items():
                if any(c in user + password for c in ":\n"):
                    raise ValueError("':' or newline in user or password")
                f.write("%s:{PLAIN}%s:%s:::::\n"
                        % (user, password, self.user_uids.get(user, "")))
        master_file = os.path.join(self.dir, "master-users")
        with open(master_file, "w") as f:
            f.write("%s:{PLAIN}%s::::::\n"
                    % (self.master_user, self.master_password))
        # The auth process reads them as Dovecot's internal user.
        internal_gid = grp.getgrnam("dovecot").gr_gid
        for p in (users_file, master_file):
            os.chown(p, 0, internal_gid)
            os.chmod(p, 0o640)
        with open(self.conf_path, "w") as f:
            f.write(self.config_text(users_file, master_file))

    def config_text(self, users_file, master_file):
        """The generated dovecot.conf."""
        push = ""
        if self.push_socket:
            plugins = ("$mail_plugins notify push_notification mail_lua "
                       "push_notification_lua")
            push = """
protocol lmtp {
  mail_plugins = %(p)s
}
protocol imap {
  mail_plugins = %(p)s
}
plugin {
  push_notification_driver = lua:file=%(script)s
  tidings_socket = %(sock)s
}
""" % {"p": plugins, "script": PUSH_SCRIPT, "sock": self.push_socket}
        if self.ssl_cert:
            tls = """ssl = %s
ssl_cert = <%s
ssl_key = <%s
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes""" % (self.ssl, self.ssl_cert, self.ssl_key)
            imaps = "address = 127.0.0.1\n    port = %d" % self.imaps_port
        else:
            tls = "ssl = no\ndisable_plaintext_auth = no"
            imaps = "port = 0"
        return """# Generated by tests/integration/dovecot.py
instance_name = tidings-test-%(inst)s
base_dir = %(base)s
state_dir = %(state)s
log_path = %(log)s
info_log_path = %(log)s
debug_log_path = %(log)s
protocols = imap lmtp
listen = 127.0.0.1
%(tls)s
auth_mechanisms = plain login
auth_verbose = yes
auth_master_user_separator = *
first_valid_uid = %(uid)d
last_valid_uid = %(uid)d
first_valid_gid = %(gid)d
mail_uid = %(uid)d
mail_gid = %(gid)d
mail_location = maildir:%(mail)s/%%d/%%n
lmtp_save_to_detail_mailbox = no

# Like Debian's 15-mailboxes.conf: a Sent mailbox with the \\Sent
# special-use attribute (RFC 6154), created and subscribed when first
# needed; tidings appends copies of sent mail there.
namespace inbox {
  inbox = yes
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
}

passdb {
  driver = passwd-file
  args = %(master)s
  master = yes
  pass = yes
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %(users)s
}
userdb {
  driver = passwd-file
  args = username_format=%%u %(users)s
  default_fields = uid=%(uid)d gid=%(gid)d home=%(mail)s/%%d/%%n
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %(imap)d
  }
  inet_listener imaps {
    %(imaps)s
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %(lmtp)d
  }
}
service auth {
  unix_listener auth-client {
    mode = 0600
    user = root
  }
%(auth_master)s}
%(push)s
%(extra)s
""" % {"inst": os.path.basename(os.path.dirname(self.dir)) or "x",
           "base": self.base_dir, "state": self.state_dir,
           "log": self.log_path, "uid": self.mail_uid, "gid": self.mail_gid,
           "mail": self.mail_dir, "master": master_file, "users": users_file,
           "imap": self.imap_port, "lmtp": self.lmtp_port, "push": push,
           "extra": self.extra_conf, "tls": tls, "imaps": imaps,
           "auth_master": self._auth_master_conf()}

    def _auth_master_conf(self):
        """The extra auth-master/userdb unix_listener, if any."""
        if not self.auth_master_listener:
            return ""
        return ("  unix_listener %s {\n    mode = 0600\n    user = root\n"
                "  }\n" % self.auth_master_listener)

    # -- lifecycle -----------------------------------------------------

    def start(self, timeout=15.0):
        """Write the config, start dovecot -F, wait for IMAP and LMTP."""
        if self.push_socket and not os.path.exists(PUSH_SCRIPT):
            raise RuntimeError("push_socket given but %s is missing"
                               % PUSH_SCRIPT)
        self._write_files()
        out = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf_path],
                                     stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        out.close()
        try:
            wait_port(self.imap_port, timeout, self.proc)
            wait_port(self.lmtp_port, timeout, self.proc)
            if self.imaps_port:
                wait_port(self.imaps_port, timeout, self.proc)
        except RuntimeError as e:
            self.stop()
            raise RuntimeError("%s; log: %s" % (e, self.log_tail()))
        return self

    def stop(self, timeout=10.0):
        """SIGTERM the master and wait for it; safe to call twice."""
        procutil.stop_process(self.proc, timeout)
        self.proc = None

    def reload(self):
        """Re-read the config (SIGHUP to the master)."""
        self._write_files()
        self.proc.send_signal(signal.SIGHUP)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        """The whole Dovecot log so far ('' if none)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=20):
        return "\n".join(self.log().splitlines()[-lines:])

    def login_lines(self, user=None):
        """The log's imap-login "Login:" lines (of user, if given)."""
        want = "Login: user=<%s>" % user if user else "Login: user=<"
        return [line for line in self.log().splitlines()
                if "imap-login: " in line and want in line]

    # -- clients -------------------------------------------------------

    def deliver(self, rcpt, message, sender="sender@example.net"):
        """Deliver message (bytes or str) to rcpt over LMTP; return secs."""
        return lmtp_deliver(self.lmtp_port, rcpt, message, sender)

    def imap(self, user):
        """An imaplib.IMAP4 logged in as user with the user's password."""
        im = imaplib.IMAP4("127.0.0.1", self.imap_port)
        im.login(user, self.users[user])
        return im

    def imap_master(self, user):
        """An imaplib.IMAP4 logged in as user*master_user."""
        im = imaplib.IMAP4("127.0.0.1", self.imap_port)
        im.login("%s*%s" % (user, self.master_user), self.master_password)
        return im


# -- the native push driver (mailstore/dovecot-plugin) -----------------------

PLUGIN_NAME = "lib30_tidings_push_plugin.so"
DOVECOT_MODULES = "/usr/lib/dovecot/modules"


def plugin_path():
    """The built native driver, under $TIDINGS_BUILD."""
    import tidingsd
    return os.path.join(tidingsd.build_dir(), "mailstore", "dovecot-plugin",
                        PLUGIN_NAME)


class NativeDovecot(Dovecot):
    """A Dovecot with the native "tidings" push driver instead of Lua.

    native_socket: the path given as socket= to the driver (None: no push
    plugin at all). mail_plugin_dir points to a folder holding symlinks to
    every file of Dovecot's module dir plus the built plugin.
    """

    def __init__(self, tmpdir, users, native_socket=None, **kw):
        super().__init__(tmpdir, users, **kw)
        self.native_socket = native_socket
        self.module_dir = os.path.join(self.dir, "modules")

    def _write_files(self):
        os.makedirs(self.module_dir, exist_ok=True)
        for name in os.listdir(DOVECOT_MODULES):
            link = os.path.join(self.module_dir, name)
            if not os.path.lexists(link):
                os.symlink(os.path.join(DOVECOT_MODULES, name), link)
        link = os.path.join(self.module_dir, PLUGIN_NAME)
        if not os.path.lexists(link):
            os.symlink(plugin_path(), link)
        super()._write_files()

    def config_text(self, users_file, master_file):
        text = super().config_text(users_file, master_file)
        if not self.native_socket:
            return text
        plugins = "$mail_plugins notify push_notification tidings_push"
        return text + """
mail_plugin_dir = %(dir)s
protocol lmtp {
  mail_plugins = %(p)s
}
protocol imap {
  mail_plugins = %(p)s
}
plugin {
  push_notification_driver = tidings:socket=%(sock)s
}
""" % {"dir": self.module_dir, "p": plugins, "sock": self.native_socket}


def make_mail(frm, to, subject, body="Hello.\n", date=None, msgid=None,
              extra_headers=()):
    """A simple RFC 5322 message as bytes (subject is used verbatim)."""
    lines = ["From: %s" % frm, "To: %s" % to, "Subject: %s" % subject,
             "Date: %s" % (date or email.utils.formatdate()),
             "Message-ID: %s" % (msgid or email.utils.make_msgid()),
             "MIME-Version: 1.0",
             "Content-Type: text/plain; charset=utf-8"]
    lines += list(extra_headers)
    text = "\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")
    return text.encode("utf-8")


def _stats(times_ms):
    times = sorted(times_ms)

    def pct(p):
        return times[min(len(times) - 1, int(round(p * (len(times) - 1))))]
    return {"n": len(times), "median_ms": statistics.median(times),
            "p90_ms": pct(0.90), "p99_ms": pct(0.99),
            "mean_ms": statistics.fmean(times)}


def _bench_mail(rcpt, i):
    return make_mail("Bench <bench@example.net>", rcpt, "bench %d" % i,
                     "body %d\n" % i)


def delivery_latency(dv, rcpt, n=200, message=None):
    """Deliver n mails to rcpt over LMTP, one at a time; return timings.

    Each delivery opens its own LMTP connection (the worst case; Postfix
    may reuse one). Returns {"n", "median_ms", "p90_ms", "p99_ms",
    "mean_ms"}.
    """
    return _stats([dv.deliver(rcpt, message or _bench_mail(rcpt, i)) * 1000.0
                   for i in range(n)])


class DatagramListener:
    """A UNIX datagram socket that collects what arrives (for tests).

    The socket is made writable for the mail group (Dovecot's LMTP/IMAP).
    """

    def __init__(self, path):
        self.path = path
        self.datagrams = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chown(path, -1, mail_gid())
        os.chmod(path, 0o660)
        self.sock.settimeout(0.2)
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data = self.sock.recv(1 << 17)
            except socket.timeout:
                continue
            except OSError:
                return
            with self._cond:
                self.datagrams.append(data)
                self._cond.notify_all()

    def wait(self, count, timeout=5.0):
        """Wait until at least count datagrams arrived; return them all."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.datagrams) >= count,
                                timeout)
            return list(self.datagrams)

    def close(self):
        self._stop = True
        self._thread.join()
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def bench(n=200):
    """Print LMTP delivery times: no push, push + listener, push + nobody.

    The three Dovecots run side by side and take turns (one delivery each
    per round), so machine load affects all three alike.
    """
    rcpt = "bench@example.org"
    modes = ("no push", "push, listener", "push, nobody listening")
    times = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="tidings-dv-bench-") as d:
        dvs, listener = {}, None
        try:
            for i, mode in enumerate(modes):
                sub = os.path.join(d, str(i))
                sock = None if mode == "no push" else \
                    os.path.join(sub, "events.sock")
                dvs[mode] = Dovecot(sub, {rcpt: "pw"}, push_socket=sock)
                dvs[mode].start()
                if mode == "push, listener":
                    listener = DatagramListener(sock)
            for i in range(n + 5):
                for mode in modes:
                    t = dvs[mode].deliver(rcpt, _bench_mail(rcpt, i))
                    if i >= 5:  # the first rounds warm up
                        times[mode].append(t * 1000.0)
            got = len(listener.wait(n + 5, 5.0))
        finally:
            if listener is not None:
                listener.close()
            for dv in dvs.values():
                dv.stop()
    results = {m: _stats(times[m]) for m in modes}
    for m in modes:
        r = results[m]
        print("%-24s median %.3f ms  p90 %.3f ms  p99 %.3f ms"
              % (m, r["median_ms"], r["p90_ms"], r["p99_ms"]))
    base = results["no push"]["median_ms"]
    for m in modes[1:]:
        print("added by push (%s): %+.3f ms median"
              % (m.split(", ")[1], results[m]["median_ms"] - base))
    print("datagrams received: %d of %d" % (got, n + 5))
    return results


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "bench":
        bench(int(sys.argv[2]) if len(sys.argv) > 2 else 200)
    else:
        sys.exit("usage: dovecot.py bench [N]")
