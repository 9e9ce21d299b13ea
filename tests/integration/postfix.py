"""A throwaway Postfix 3.7 for the integration suite (stdlib only, run as
root): a private instance (`postfix -c DIR start`) with its own queue, data
directory and log file inside DIR, one smtpd on a free loopback port, and
the mail for its virtual domains handed to a Dovecot over LMTP.

    from postfix import Postfix
    pf = Postfix(tmpdir, lmtp_port=dv.lmtp_port,
                 mailboxes=["alice@example.org", "bob@example.org"])
    pf.start()                   # waits until the smtpd listener accepts
    pf.wait_queue_empty()        # everything handed to Dovecot (or bounced)
    pf.queue()                   # [postqueue -j entries]
    pf.log_tail(); pf.stop()

Constructor: Postfix(tmpdir, lmtp_port, mailboxes, domains=("example.org",),
smtp_port=None, tls_cert=None, tls_key=None, rcpt_access=None,
sender_access=None, main_extra=None).
- mailboxes: the addresses Postfix accepts in its virtual domains
  (virtual_mailbox_maps); any other address there gets "550 5.1.1 ...
  User unknown in virtual mailbox table" at RCPT TO.
- tls_cert/tls_key (PEM): STARTTLS offered (smtpd_tls_security_level =
  may, TLS >= 1.2).
- rcpt_access / sender_access: {address: "CODE text"} or "OK"; checked
  first at RCPT TO (check_recipient_access / check_sender_access), e.g.
  {"busy@example.org": "450 4.2.1 Mailbox busy, try later"}.
- main_extra: {parameter: value} added to (or overriding) main.cf.
Attributes: dir, smtp_port, lmtp_port, log_path, queue_dir.

The system instance is never touched: Debian's postfix package is
installed with "No configuration" (tests/deps.sh), so /etc/postfix has no
main.cf and nothing listens on port 25. Without a tty, Postfix's own fatal
errors at start go to syslog only; start() runs `postfix check` first and
puts its output in the exception.
"""

import json
import os
import subprocess
import time

import procutil

POSTFIX = "/usr/sbin/postfix"
POSTQUEUE = "/usr/sbin/postqueue"

MASTER_CF = """\
127.0.0.1:%(smtp_port)d inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def _make_traversable(path):
    """o+x on path and its parents, so that the postfix user reaches
    the queue inside a pytest tmpdir."""
    path = os.path.abspath(path)
    while path != "/":
        st = os.stat(path)
        os.chmod(path, st.st_mode | 0o001)
        path = os.path.dirname(path)


class Postfix:
    def __init__(self, tmpdir, lmtp_port, mailboxes, domains=("example.org",),
                 smtp_port=None, tls_cert=None, tls_key=None,
                 rcpt_access=None, sender_access=None, main_extra=None):
        self.dir = os.path.abspath(str(tmpdir))
        self.lmtp_port = lmtp_port
        self.mailboxes = list(mailboxes)
        self.domains = list(domains)
        self.smtp_port = smtp_port or procutil.free_port()
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.rcpt_access = dict(rcpt_access or {})
        self.sender_access = dict(sender_access or {})
        self.main_extra = dict(main_extra or {})
        self.conf_dir = os.path.join(self.dir, "conf")
        self.queue_dir = os.path.join(self.dir, "queue")
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "maillog")
        self.running = False

    # -- configuration ------------------------------------------------------

    def _write_map(self, name, entries):
        path = os.path.join(self.conf_dir, name)
        with open(path, "w") as f:
            for k, v in entries.items():
                f.write("%s %s\n" % (k, v))
        return path

    def main_cf(self):
        vmail = self._write_map("vmailbox",
                                {a: "ok" for a in self.mailboxes})
        rcpt = self._write_map("rcpt_access", self.rcpt_access)
        sender = self._write_map("sender_access", self.sender_access)
        p = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "maillog_file": self.log_path,
            "maillog_file_prefixes": self.dir,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "mx.example.org",
            "mydomain": "example.org",
            "myorigin": "$mydomain",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "relayhost": "",
            "relay_domains": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "biff": "no",
            "smtputf8_enable": "no",
            "virtual_mailbox_domains": " ".join(self.domains),
            "virtual_mailbox_maps": "texthash:" + vmail,
            "virtual_transport": "lmtp:inet:127.0.0.1:%d" % self.lmtp_port,
            "smtpd_sender_restrictions":
                "check_sender_access texthash:" + sender,
            "smtpd_recipient_restrictions":
                "check_recipient_access texthash:%s, permit_mynetworks, "
                "reject_unauth_destination" % rcpt,
            # Tests want answers, not a sleeping smtpd.
            "smtpd_error_sleep_time": "0",
            "smtpd_soft_error_limit": "100",
            "smtpd_hard_error_limit": "200",
            "smtpd_client_connection_rate_limit": "0",
            "smtpd_banner": "$myhostname ESMTP tidings-test",
            "queue_run_delay": "5s",
            "minimal_backoff_time": "5s",
            "maximal_backoff_time": "10s",
        }
        if self.tls_cert is not None:
            p.update({
                "smtpd_tls_cert_file": self.tls_cert,
                "smtpd_tls_key_file": self.tls_key,
                "smtpd_tls_security_level": "may",
                "smtpd_tls_protocols": ">=TLSv1.2",
                "smtpd_tls_loglevel": "1",
            })
        p.update(self.main_extra)
        return "".join("%s = %s\n" % kv for kv in p.items())

    def _write_files(self):
        os.makedirs(self.conf_dir, exist_ok=True)
        os.makedirs(self.queue_dir, exist_ok=True)
        os.makedirs(self.data_dir, exist_ok=True)
        with open(os.path.join(self.conf_dir, "main.cf"), "w") as f:
            f.write(self.main_cf())
        with open(os.path.join(self.conf_dir, "master.cf"), "w") as f:
            f.write(MASTER_CF % {"smtp_port": self.smtp_port})
        os.chown(self.data_dir, *self._postfix_ids())
        _make_traversable(self.dir)
        for p in (self.tls_cert, self.tls_key):
            if p is not None:
                _make_traversable(os.path.dirname(p))

    @staticmethod
    def _postfix_ids():
        import pwd
        pw = pwd.getpwnam("postfix")
        return pw.pw_uid, pw.pw_gid

    def _postfix(self, *args, check=True, timeout=60):
        out = subprocess.run([POSTFIX, "-c", self.conf_dir] + list(args),
                             capture_output=True, text=True,
                             timeout=timeout)
        if check and out.returncode != 0:
            raise RuntimeError("postfix %s failed (%d): %s%s\n%s" % (
                " ".join(args), out.returncode, out.stdout, out.stderr,
                self.log_tail()))
        return out

    # -- life cycle ---------------------------------------------------------

    def start(self, timeout=30.0):
        self._write_files()
        # Creates the queue directories and checks the configuration.
        self._postfix("check")
        self._postfix("start")
        self.running = True
        procutil.wait_port(self.smtp_port, timeout, what="postfix smtpd")
        return self

    def stop(self, timeout=30.0):
        if not self.running:
            return
        self.running = False
        self._postfix("stop", check=False)
        pid_file = os.path.join(self.queue_dir, "pid", "master.pid")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(pid_file) as f:
                    pid = int(f.read().strip() or "0")
            except (OSError, ValueError):
                return
            if pid == 0:
                return
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        self._postfix("abort", check=False)

    def reload(self):
        self._write_files()
        self._postfix("reload")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- looking inside -----------------------------------------------------

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, lines=30):
        return "\n".join(self.log().splitlines()[-lines:])

    def queue(self):
        """The mails in the queue: postqueue -j entries (dicts)."""
        out = subprocess.run([POSTQUEUE, "-c", self.conf_dir, "-j"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError("postqueue -j: %s" % out.stderr)
        return [json.loads(line) for line in out.stdout.splitlines()
                if line.strip()]

    def flush(self):
        subprocess.run([POSTQUEUE, "-c", self.conf_dir, "-f"],
                       capture_output=True, timeout=30)

    def wait_queue_empty(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            q = self.queue()
            if not q:
                return
            if time.monotonic() > deadline:
                raise AssertionError("postfix queue not empty after %.0f s:"
                                     " %r\n%s" % (timeout, q,
                                                  self.log_tail()))
            time.sleep(0.1)

    def wait_log(self, text, timeout=15.0):
        """Wait until the log holds text; return the log."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if text in log:
                return log
            if time.monotonic() > deadline:
                raise AssertionError("%r not in the postfix log after "
                                     "%.0f s:\n%s" % (text, timeout,
                                                      self.log_tail()))
            time.sleep(0.1)
