#!/usr/bin/python3
"""The whole tidings stack in one folder: Dovecot + Prosody + tidingsd.

Used by the pytest fixtures (conftest.py) and as the one-command demo:

    python3 tests/integration/stack.py --demo [--dir DIR]
    python3 tests/integration/stack.py --send bob@localhost --subject "Hi"

The demo serves the domain "localhost" (alice, bob and carol, password
"tidings"; the component is mail.localhost) on the usual ports 5222 (c2s),
1143 (IMAP), 2424 (LMTP) and 2525 (SMTP: a private Postfix delivering to
Dovecot, which tidingsd submits mail from chat to) of 127.0.0.1 and stays
in the foreground until Ctrl-C or SIGTERM. Its Prosody requires STARTTLS, as real XMPP clients do
(they refuse to send a password over plain TCP), with a certificate from a
CA made at start (prosody.py); the banner says how to trust it.
"""

import argparse
import email.utils
import grp
import inspect
import os
import pwd
import re
import secrets
import shutil
import signal
import smtplib
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from prosody import (Prosody, cert_fingerprint, port_is_free,  # noqa: E402
                     free_port)
import tidingsd as td  # noqa: E402

DEMO_PORTS = {"c2s": 5222, "imap": 1143, "lmtp": 2424, "smtp": 2525}
DEMO_USERS = ("alice", "bob", "carol")
DEMO_PASSWORD = "tidings"


def make_mail(frm, to, subject=None, body="Hello,\nthis is a test mail.\n",
              msgid=None, date=None, headers=None, raw_subject=None):
    """Build an RFC 5322 message as bytes (CRLF line ends).

    `subject` is placed as is (str, ASCII or encoded words); `raw_subject`
    (bytes) is placed verbatim instead, for 8-bit and broken headers.
    """
    if msgid is None:
        msgid = "<%s@test.tidings>" % secrets.token_hex(8)
    if date is None:
        date = email.utils.formatdate(localtime=False)
    lines = [b"From: " + frm.encode(), b"To: " + to.encode(),
             b"Date: " + date.encode(), b"Message-ID: " + msgid.encode()]
    if raw_subject is not None:
        lines.append(b"Subject: " + raw_subject)
    elif subject is not None:
        lines.append(b"Subject: " + subject.encode())
    for k, v in (headers or {}).items():
        lines.append(k.encode() + b": " + (v if isinstance(v, bytes)
                                           else v.encode()))
    lines += [b"MIME-Version: 1.0",
              b"Content-Type: text/plain; charset=utf-8",
              b"Content-Transfer-Encoding: 8bit", b""]
    b = body if isinstance(body, bytes) else body.encode()
    lines += b.replace(b"\r\n", b"\n").split(b"\n")
    return b"\r\n".join(lines)


def lmtp_send(port, rcpt, message, sender="alice@example.org",
              host="127.0.0.1"):
    """Deliver one message over LMTP; return the seconds it took."""
    t0 = time.monotonic()
    with smtplib.LMTP(host, port, timeout=30) as s:
        s.sendmail(sender, [rcpt], message)
    return time.monotonic() - t0


class Stack:
    """Dovecot + Prosody (or ejabberd) + tidingsd for one mail/XMPP domain.

    users: {localpart: password}; mailboxes are localpart@domain.
    notify / log: extra keys for tidingsd's [notify] and [log] sections.
    extra_users: more Dovecot users {address: password} (other domains).
    dovecot_conf: text appended to dovecot.conf.
    dovecot_kw: more keyword arguments for dovecot.Dovecot (e.g.
    auth_master_listener, user_uids, ssl_cert).
    extra_xmpp_domains: more VirtualHosts for Prosody (several domains).
    ports: optional {"c2s", "component", "imap", "lmtp", "smtp"} to pin
    ports ("smtp": Postfix's smtpd, with postfix=True).
    tls: Prosody's c2s TLS mode, "offer" (default: STARTTLS offered,
    plain logins allowed), "require" (the demo) or "off" (prosody.py).
    xmpp_server: "prosody" (default) or "ejabberd": ejabberd 23.01
    (ejabberd.py) with tidings-auth as its extauth helper on this stack's
    tidings.conf, which then also names Dovecot's auth-client socket and
    an auth-master listener ("tidings-userdb", added to Dovecot);
    ejabberd_kw: more keyword arguments for ejabberd.Ejabberd (e.g.
    extra_modules, tidings_yml_text). The server object is `xmpp_server`
    (`prosody` or `ejabberd`; the other is None).
    helper_user (ejabberd only): run tidings-auth as this user (e.g.
    "ejabberd") and its primary group, as a deployment does: tidings.conf
    is then 0640 with that group, and Dovecot gets the listeners the
    README gives ejabberd (part 4 of examples/dovecot/90-tidings.conf:
    tidings-client for the user, tidings-userdb for the group).
    master_password_file: True to put the master password into
    <dir>/master-password (0600, root's: tidingsd's user here) and name
    it in tidings.conf as [mail] master_password_file.
    postfix: True to run a private Postfix (postfix.py; `self.postfix`)
    started after Dovecot, its smtpd on ports["smtp"] (or a free port),
    delivering every Dovecot user of this stack (users and extra_users)
    over LMTP: its virtual mailbox domains are the domains of those
    addresses. tidings.conf then has [mail] smtp_host = 127.0.0.1 and
    smtp_port. A recipient in any other domain is refused at RCPT TO
    with "550 5.1.1 ... tidings tests deliver nothing outside" (no DNS,
    no relaying out of the test). postfix_kw: more keyword arguments for
    postfix.Postfix (e.g. rcpt_access, main_extra).
    mail_settings: more keys for tidingsd's [mail] section (e.g.
    {"send_limit": 3, "send_retry_max": "2s"}); they win over the
    stack's own.
    """

    def __init__(self, tmpdir, domain="example.org", users=None,
                 notify=None, log=None, ports=None, privileged=True,
                 extra_users=None, mail_domain=None, dovecot_conf="",
                 tls="offer", dovecot_kw=None, extra_xmpp_domains=(),
                 xmpp_server="prosody", ejabberd_kw=None, helper_user=None,
                 master_password_file=False, postfix=False, postfix_kw=None,
                 mail_settings=None):
        from dovecot import Dovecot  # another helper's file
        if xmpp_server not in ("prosody", "ejabberd"):
            raise ValueError("xmpp_server: prosody or ejabberd")
        if helper_user is not None and xmpp_server != "ejabberd":
            raise ValueError("helper_user: tidings-auth runs for ejabberd")
        self.helper_user = helper_user
        self.server_kind = xmpp_server
        self._ejabberd_kw = dict(ejabberd_kw or {})
        self.dir = str(tmpdir)
        os.makedirs(self.dir, exist_ok=True)
        self.domain = domain
        self.mail_domain = mail_domain or domain
        self.component = "mail." + domain
        self.users = dict(users or {u: DEMO_PASSWORD for u in DEMO_USERS})
        self.master_password = secrets.token_hex(12)
        self.secret = secrets.token_hex(12)
        self.events_socket = os.path.join(self.dir, "events.sock")
        self.master_password_file = None
        if master_password_file:
            self.master_password_file = os.path.join(self.dir,
                                                     "master-password")
            fd = os.open(self.master_password_file,
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.master_password + "\n")
        ports = dict(ports or {})
        dv_users = {"%s@%s" % (u, self.mail_domain): p
                    for u, p in self.users.items()}
        dv_users.update(extra_users or {})
        kw = dict(dovecot_kw or {})
        if helper_user is not None:
            dovecot_conf += helper_listeners(helper_user)
        elif xmpp_server == "ejabberd":
            # tidings-auth answers isuser from Dovecot's userdb.
            kw.setdefault("auth_master_listener", "tidings-userdb")
        params = inspect.signature(Dovecot).parameters
        for key, name in (("imap", "imap_port"), ("lmtp", "lmtp_port")):
            if key in ports:
                if name not in params:
                    raise RuntimeError("dovecot.py cannot pin %s" % name)
                kw[name] = ports[key]
        self.dovecot = Dovecot(self.dir, dv_users, master_user="tidings",
                               master_password=self.master_password,
                               push_socket=self.events_socket,
                               extra_conf=dovecot_conf, **kw)
        self._ports = ports
        self.postfix = None
        if postfix:
            self.postfix = self._make_postfix(dv_users, postfix_kw)
        self.mail_settings = dict(mail_settings or {})
        self._privileged = privileged
        self._tls = tls
        self._extra_xmpp_domains = list(extra_xmpp_domains)
        self.prosody = None
        self.ejabberd = None
        self.notify = dict(notify or {})
        self.log_settings = dict(log or {"level": "debug"})
        self.tidingsd = None
        self.clients = []

    def _make_postfix(self, dv_users, postfix_kw):
        from postfix import Postfix
        domains = [self.mail_domain]
        for a in dv_users:
            d = a.rsplit("@", 1)[-1].lower()
            if "@" in a and d not in domains:
                domains.append(d)
        kw = dict(postfix_kw or {})
        extra = {"myhostname": "mx." + self.mail_domain,
                 "mydomain": self.mail_domain,
                 # Nothing leaves the machine: other domains bounce at
                 # once instead of waiting on DNS.
                 "default_transport": "error:tidings tests deliver "
                                      "nothing outside",
                 "relay_transport": "error:tidings tests deliver "
                                    "nothing outside"}
        extra.update(kw.pop("main_extra", None) or {})
        kw.setdefault("smtp_port", self._ports.get("smtp"))
        return Postfix(os.path.join(self.dir, "postfix"),
                       lmtp_port=self.dovecot.lmtp_port,
                       mailboxes=list(dv_users), domains=domains,
                       main_extra=extra, **kw)

    @property
    def xmpp_server(self):
        """The XMPP server object (Prosody or Ejabberd), once started."""
        return self.ejabberd if self.server_kind == "ejabberd" \
            else self.prosody

    def config_sections(self):
        """tidingsd's config for this stack, as {section: {key: value}}."""
        s = {
            "xmpp": {"component": self.component, "host": "127.0.0.1",
                     "port": self.xmpp_server.component_port,
                     "secret": self.secret, "domain": self.domain},
            "mail": {"domain": self.mail_domain, "imap_host": "127.0.0.1",
                     "imap_port": self.dovecot.imap_port,
                     "master_user": "tidings",
                     "master_password": self.master_password},
            # Dovecot delivers as the 'mail' user (dovecot.py): only it
            # (and root) may write events.
            "events": {"socket": self.events_socket, "socket_mode": "0660",
                       "socket_group": "mail", "trusted_users": "mail"},
            "state": {"dir": os.path.join(self.dir, "state")},
        }
        if self.master_password_file is not None:
            del s["mail"]["master_password"]
            s["mail"]["master_password_file"] = self.master_password_file
        if self.helper_user is not None:
            run = self.dovecot.base_dir
            s["mail"]["auth_client_socket"] = os.path.join(run,
                                                           "tidings-client")
            s["mail"]["auth_master_socket"] = os.path.join(run,
                                                           "tidings-userdb")
        elif self.server_kind == "ejabberd":
            s["mail"]["auth_client_socket"] = self.dovecot.auth_client_socket
            s["mail"]["auth_master_socket"] = self.dovecot.auth_master_socket
        if self.postfix is not None:
            s["mail"]["smtp_host"] = "127.0.0.1"
            s["mail"]["smtp_port"] = self.postfix.smtp_port
        s["mail"].update(self.mail_settings)
        if self.notify:
            s["notify"] = dict(self.notify)
        if self.log_settings:
            s["log"] = dict(self.log_settings)
        return s

    def start(self, tidings=True):
        """Start Dovecot, then Prosody (it connects to Dovecot's auth
        socket as it loads) or ejabberd, then tidingsd."""
        if self.server_kind == "ejabberd":
            return self._start_ejabberd(tidings)
        try:
            self.dovecot.start()
            if self.postfix is not None:
                self.postfix.start()
            self.prosody = Prosody(
                self.dir, self.domain, self.component, self.secret,
                self.dovecot.auth_client_socket, privileged=self._privileged,
                c2s_port=self._ports.get("c2s"),
                component_port=self._ports.get("component"), tls=self._tls,
                extra_domains=self._extra_xmpp_domains)
            self.prosody.start()
            self.tidingsd = td.Tidingsd(self.dir, self.config_sections())
            if tidings:
                self.tidingsd.start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_ejabberd(self, tidings):
        """Dovecot, then ejabberd (its tidings-auth helpers read
        tidings.conf, so it is written first), then tidingsd."""
        from ejabberd import Ejabberd, tidings_auth_binary
        try:
            self.dovecot.start()
            if self.postfix is not None:
                self.postfix.start()
            kw = dict(self._ejabberd_kw)
            kw.setdefault("c2s_port", self._ports.get("c2s"))
            kw.setdefault("component_port", self._ports.get("component"))
            kw.setdefault("extra_domains", self._extra_xmpp_domains)
            tidings_dir = os.path.join(self.dir, "tidingsd")
            binary = tidings_auth_binary()
            if self.helper_user is not None:
                kw["helper_user"] = self.helper_user
                # The build tree may not be reachable for that user.
                binary = os.path.join(self.dir, "tidings-auth")
                shutil.copy2(tidings_auth_binary(), binary)
                os.chmod(binary, 0o755)
            helper = [binary, "-c", os.path.join(tidings_dir, "tidings.conf")]
            self.ejabberd = Ejabberd(self.dir, self.domain, self.component,
                                     self.secret, td.wrapper() + helper,
                                     **kw)
            self.tidingsd = td.Tidingsd(self.dir, self.config_sections())
            if self.helper_user is not None:
                self.tidingsd.config_mode = 0o640
                self.tidingsd.config_gid = pwd.getpwnam(
                    self.helper_user).pw_gid
            self.tidingsd.write_config()
            self.ejabberd.start()
            if tidings:
                self.tidingsd.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Stop clients and servers; return tidingsd's last exit code."""
        for c in self.clients:
            c.disconnect()
        self.clients = []
        rc = None
        if self.tidingsd is not None and self.tidingsd.running:
            rc = self.tidingsd.stop()
        if self.prosody is not None:
            self.prosody.stop()
        if self.ejabberd is not None:
            self.ejabberd.stop()
        if self.postfix is not None:
            try:
                self.postfix.stop()
            except Exception:
                pass
        try:
            self.dovecot.stop()
        except Exception:
            pass
        return rc

    def stop_postfix(self):
        """Stop just Postfix (its queue stays): mail from chat then meets
        a refused connection, a temporary failure."""
        self.postfix.stop()

    def start_postfix(self):
        """Start Postfix again on the same port, with the same queue."""
        self.postfix.start()

    def restart_tidingsd(self, wait_connected=True):
        """Stop tidingsd (SIGTERM; its exit code joins exit_codes, which
        the fixtures check) and start it again on the same config and
        state; return the log offset at the new start."""
        self.tidingsd.stop()
        return self.tidingsd.start(wait_connected=wait_connected)

    # -- helpers for tests ---------------------------------------------------

    def jid(self, user):
        return "%s@%s" % (user, self.domain)

    def addr(self, user):
        return "%s@%s" % (user, self.mail_domain)

    def client(self, user, presence=True, resource="test", tls=False,
               password=None):
        """A logged-in XMPP client for `user` (the Dovecot password unless
        `password`). tls=True: over STARTTLS, the server certificate
        verified against Prosody's CA (xmppclient.Client.connect)."""
        from xmppclient import Client  # slixmpp loads only when needed
        c = Client(user, ignore_from=(self.domain,))
        c.connect("%s/%s" % (self.jid(user), resource),
                  self.users[user] if password is None else password,
                  "127.0.0.1", self.xmpp_server.c2s_port, presence=presence,
                  tls=tls, ca_file=self.prosody.ca_file if tls else None)
        self.clients.append(c)
        return c

    def deliver(self, rcpt, message, sender="alice@example.org"):
        """Deliver `message` (bytes) to `rcpt` over LMTP; return seconds."""
        return lmtp_send(self.dovecot.lmtp_port, rcpt, message, sender)

    def mail(self, to_user, subject="Hello there", frm=None, body=None,
             **kw):
        """Build and deliver a simple mail to `to_user`; return seconds."""
        frm = frm or "Alice Example <alice@%s>" % self.mail_domain
        msg = make_mail(frm, self.addr(to_user), subject,
                        body or "first words of the snippet\n", **kw)
        return self.deliver(self.addr(to_user), msg,
                            email.utils.parseaddr(frm)[1])

    def wait_quiet(self, client, quiet=1.0, timeout=30.0):
        """Wait until `client` has received nothing for `quiet` seconds."""
        deadline = time.monotonic() + timeout * td.SLOW
        n = -1
        while time.monotonic() < deadline:
            m = len(client.messages)
            if m == n:
                return
            n = m
            time.sleep(quiet * td.SLOW)


DOVECOT_EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(HERE)),
                               "examples", "dovecot", "90-tidings.conf")


def helper_listeners(user):
    """Dovecot's listeners for a tidings-auth running as `user`: part 4
    of examples/dovecot/90-tidings.conf, uncommented, with `user` for
    ejabberd, root for tidings (tidingsd runs as root here) and `user`'s
    primary group for the group tidings."""
    text = open(DOVECOT_EXAMPLE).read()
    m = re.search(r"#@ejabberd-begin\n(.*?)#@ejabberd-end", text, re.S)
    if m is None:
        raise RuntimeError("%s lost its ejabberd block" % DOVECOT_EXAMPLE)
    block = "".join(line[1:] + "\n" for line in m.group(1).splitlines())
    group = grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    for old, new in (("user = ejabberd", "user = %s" % user),
                     ("user = tidings", "user = root"),
                     ("group = tidings", "group = %s" % group)):
        if block.count(old) != 1:
            raise RuntimeError("the ejabberd block no longer has %r" % old)
        block = block.replace(old, new)
    return "\n" + block


# -- the demo --------------------------------------------------------------

DEMO_BANNER = """
tidings demo is running in %(dir)s

  Users (mailbox = JID, one password): alice@localhost, bob@localhost,
  carol@localhost, password "tidings". Mail contact: mail.localhost

  XMPP: 127.0.0.1:%(c2s)d, STARTTLS required. The server certificate (for
  localhost and mail.localhost) is signed by a CA made for this demo:
    %(ca)s
  Trust that CA, or accept the certificate when your client asks, after
  comparing its fingerprint:
    SHA-256 %(sha256)s
    SHA-1   %(sha1)s
            (profanity shows it as %(sha1_plain)s)
  profanity, trusting the CA (that folder holds it with its hash link):
    /tls certpath set %(ca_dir)s
    /connect bob@localhost server 127.0.0.1 port %(c2s)d
  or without certpath: the same /connect, then at the certificate prompt
    /tls allow      (this once; /tls always remembers the certificate)
  go-sendxmpp, trusting the CA (-n instead would skip verification):
    echo hi | SSL_CERT_FILE=%(ca)s \\
      go-sendxmpp -u alice@localhost -p tidings -j 127.0.0.1:%(c2s)d \\
      bob@localhost
  The default demo folder is root's (mode 0700): for a client running as
  another user, copy the CA first, e.g.
    install -m 644 %(ca)s /tmp/tidings-demo-ca.pem
  IMAP: 127.0.0.1:%(imap)d, no TLS, e.g.
    curl -u bob@localhost:tidings \\
      imap://127.0.0.1:%(imap)d/INBOX -X 'FETCH 1:* ENVELOPE'
  Send bob a mail (LMTP 127.0.0.1:%(lmtp)d):
    python3 tests/integration/stack.py --send bob@localhost --subject "Hi"
  Mail from chat: tidingsd submits to a private Postfix on
  127.0.0.1:%(smtp)d that delivers to this Dovecot. Chat from alice to
    bob\\40localhost@mail.localhost
  (bob@localhost written as a JID at the Mail contact, XEP-0106) and bob
  gets an e-mail from alice@localhost, with a copy in alice's Sent; reply
  to a notification to answer that mail; or run the "Send a mail"
  command of mail.localhost. Postfix log: %(pflog)s

  Logs: %(dir)s/tidingsd/tidingsd.log, %(dir)s/prosody/prosody.log,
        Dovecot: %(dvlog)s
  Ctrl-C stops everything.
"""


def demo(args):
    if os.geteuid() != 0:
        sys.exit("The demo runs Dovecot and Prosody privately and needs root.")
    if not td.available():
        sys.exit("No tidingsd at %s: build it first (meson setup build && "
                 "ninja -C build), or set TIDINGS_BUILD." % td.binary())
    busy = [("%s %d" % (k, p)) for k, p in DEMO_PORTS.items()
            if not port_is_free(p)]
    if busy:
        sys.exit("The demo needs these ports of 127.0.0.1, but they are in "
                 "use: %s. Is another demo (or a system Dovecot/Prosody/"
                 "Postfix) running? Stop it and retry." % ", ".join(busy))
    if not os.access("/usr/sbin/postfix", os.X_OK):
        sys.exit("The demo sends mail from chat through a private Postfix, "
                 "and /usr/sbin/postfix is missing: install the postfix "
                 "package (sh examples/demo/run.sh does).")
    d = args.dir or tempfile.mkdtemp(prefix="tidings-demo-")
    ports = dict(DEMO_PORTS)
    ports["component"] = free_port()
    # STARTTLS required: real clients (go-sendxmpp, profanity,
    # Conversations) will not log in without it anyway, and the mailbox
    # passwords then never cross the wire in clear.
    st = Stack(d, domain="localhost", ports=ports,
               log={"level": "info"}, tls="require", postfix=True)
    stop = threading.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: stop.set())
    st.start()
    pr = st.prosody
    with open(os.path.join(d, "demo.env"), "w") as f:
        f.write("LMTP_PORT=%d\n" % st.dovecot.lmtp_port)
        f.write("XMPP_CA_FILE=%s\n" % pr.ca_file)
        f.write("SMTP_PORT=%d\n" % st.postfix.smtp_port)
    sha1 = cert_fingerprint(pr.cert_file, "sha1")
    print(DEMO_BANNER % {
        "dir": d, "c2s": pr.c2s_port, "imap": st.dovecot.imap_port,
        "lmtp": st.dovecot.lmtp_port, "dvlog": st.dovecot.log_path,
        "smtp": st.postfix.smtp_port, "pflog": st.postfix.log_path,
        "ca": pr.ca_file, "ca_dir": pr.ca_dir,
        "sha256": cert_fingerprint(pr.cert_file, "sha256"),
        "sha1": sha1, "sha1_plain": sha1.replace(":", "").lower()})
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            if not st.tidingsd.running:
                print("tidingsd exited; see %s" % st.tidingsd.log_path)
                break
    finally:
        rc = st.stop()
        print("demo stopped (tidingsd exit code %s)" % rc)


def send(args):
    frm = args.sender
    msg = make_mail(frm, args.send, args.subject, args.body + "\n")
    try:
        secs = lmtp_send(args.lmtp_port, args.send, msg,
                         email.utils.parseaddr(frm)[1])
    except OSError as e:
        sys.exit("Cannot deliver over LMTP to 127.0.0.1:%d (%s). Is the demo "
                 "running (python3 tests/integration/stack.py --demo)?"
                 % (args.lmtp_port, e))
    print("delivered to %s in %.1f ms" % (args.send, secs * 1000))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", action="store_true",
                    help="run the demo stack in the foreground")
    ap.add_argument("--dir", help="folder for the demo's state and logs")
    ap.add_argument("--send", metavar="RCPT",
                    help="deliver a test mail to RCPT in the running demo")
    ap.add_argument("--subject", default="Hello from the tidings demo")
    ap.add_argument("--from", dest="sender",
                    default="Alice <alice@localhost>")
    ap.add_argument("--body",
                    default="Hi, this mail came through the tidings demo.")
    ap.add_argument("--lmtp-port", type=int, default=DEMO_PORTS["lmtp"])
    args = ap.parse_args()
    if args.demo:
        demo(args)
    elif args.send:
        send(args)
    else:
        ap.print_help()


if __name__ == "__main__":
    main()
