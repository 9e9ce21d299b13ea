"""End-to-end check after README.md's admin path (admin_path_inner.sh runs
it inside the sandbox, on the stock ports of the system's own Dovecot,
Prosody and tidingsd):

- a mailbox logs in to XMPP with its mail password (STARTTLS, the site's
  certificate): Prosody asks Dovecot; a wrong password is refused;
- an account that existed only in Prosody on that VirtualHost can no longer
  log in (the README warns), one on another VirtualHost still can (what the
  README advises for XMPP-only accounts);
- a mail delivered over LMTP, as Postfix does, is notified by tidingsd
  within seconds: the body and the urn:x-tidings:mail:0 payload;
- the master user reads it over IMAP with the password the README made;
- with --notify-log REGEX, tidingsd logged a line matching it for the
  notification.
"""

import argparse
import email.message
import os
import re
import smtplib
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import imapmail  # noqa: E402
import xmppclient  # noqa: E402


class Site:
    """What imapmail needs of a Dovecot: IMAP logins on the stock port."""

    def __init__(self, master_password):
        self.master_password = master_password

    def imap_master(self, user):
        import imaplib
        im = imaplib.IMAP4("127.0.0.1", 143)
        im.login("%s*tidings" % user, self.master_password)
        return im


def login(jid, password, ca, presence=True):
    c = xmppclient.Client(jid, ignore_from=(jid.split("@")[1],))
    return c.connect(jid, password, "127.0.0.1", 5222, timeout=10.0,
                     presence=presence, tls=True, ca_file=ca)


def refused(jid, password, ca):
    try:
        login(jid, password, ca, presence=False).disconnect()
    except RuntimeError as e:
        return "authentication failed" in str(e)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--domain", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--log", required=True)
    # The info line tidingsd logs for each notification (README,
    # "Operating it"): "why didn't bob get told?" has an answer.
    ap.add_argument("--notify-log", default=os.environ.get(
        "TIDINGS_ADMIN_NOTIFY_LOG",
        r"bridge\(bob@DOMAIN\): notified INBOX uid [0-9]+ "
        r"\(single, id tm1-[0-9a-f]+-"))
    a = ap.parse_args()
    d = a.domain
    component = "mail." + d

    bob = login("bob@" + d, "bob-mail-pw", a.ca)
    print("bob@%s logged in with his mail password (%s)"
          % (d, bob.tls_version))
    assert refused("bob@" + d, "not-bob-mail-pw", a.ca), \
        "a wrong password was not refused"
    assert refused("xonly@" + d, "xonly-pw", a.ca), \
        "an account of Prosody's own on %s still logs in" % d
    login("keep@chat." + d, "keep-pw", a.ca, presence=False).disconnect()
    print("Prosody's own accounts: gone on %s, kept on chat.%s" % (d, d))

    subject = "Admin path %d" % os.getpid()
    m = email.message.EmailMessage()
    m["From"] = "Alice <alice@%s>" % d
    m["To"] = "bob@" + d
    m["Subject"] = subject
    m["Message-ID"] = "<admin-path-%d@%s>" % (os.getpid(), d)
    m.set_content("Lunch at noon? Bring the figures.\n")
    log_size = os.path.getsize(a.log)
    sent = time.monotonic()
    with smtplib.LMTP("/run/dovecot/lmtp") as lmtp:
        lmtp.send_message(m, "alice@" + d, ["bob@" + d])

    n = bob.wait_for_message(
        lambda n: n.frm.split("/")[0] == component and n.mail is not None,
        timeout=10.0)
    assert n is not None, "no notification within 10 s; bob got %r" \
        % bob.messages
    took = n.received - sent
    want = "New mail from Alice <alice@%s>\nSubject: %s\n\n" % (d, subject)
    assert n.body.startswith(want), "body %r, wanted it to start %r" \
        % (n.body, want)
    assert "Lunch at noon?" in n.body, n.body
    mail = n.mail
    assert mail["mailbox"] == "INBOX" and mail["uid"] == 1, mail
    assert mail["subject"] == subject, mail
    assert mail["from"] == "alice@" + d and mail["from_name"] == "Alice", \
        mail
    assert mail["message_id"] == m["Message-ID"], mail
    print("notified in %.2f s: %r" % (took, n.body.splitlines()[0]))

    pw = open("/etc/tidings/master-password").read().splitlines()[0]
    got = imapmail.messages(Site(pw), "bob@" + d)
    assert [x.header("Subject") for x in got] == [subject], got
    print("the master user reads bob's INBOX")

    if a.notify_log:
        pat = re.compile(a.notify_log.replace("DOMAIN", re.escape(d)))
        deadline = time.monotonic() + 5
        while True:
            with open(a.log, "rb") as f:
                f.seek(log_size)
                lines = f.read().decode("utf-8", "replace").splitlines()
            hit = [x for x in lines if "tidingsd" in x and pat.search(x)]
            if hit:
                print("logged: %s" % hit[0])
                break
            assert time.monotonic() < deadline, \
                "no log line matching %r; tidingsd logged %r" % (
                    a.notify_log, [x for x in lines if "tidingsd" in x])
            time.sleep(0.2)
    bob.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
