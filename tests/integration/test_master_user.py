"""The master user as examples/dovecot/90-tidings.conf sets it up.

A real Dovecot runs with the example's master passdb block and its ACL
block (paths changed to the test's): the master user logs in only from
loopback, and once in it can look and read but change nothing. tidingsd
needs no more than that: its reconciliation still works through it.
"""

import imaplib
import json
import os
import re
import socket
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from dovecot import Dovecot, make_mail  # noqa: E402
import tidingsd as td  # noqa: E402

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "examples",
                       "dovecot", "90-tidings.conf")
MASTER_BLOCK = re.compile(r"passdb \{\n  driver = passwd-file\n  args = "
                          r"[^\n]*\n  master = yes\n.*?\n\}\n", re.S)


def example_parts():
    """(master passdb block, ACL block) of the example, as written."""
    text = open(EXAMPLE).read()
    passdb = MASTER_BLOCK.search(text)
    acl = re.search(r"#@acl-begin\n(.*?)#@acl-end", text, re.S)
    assert passdb and acl, "the example lost its master passdb or ACL block"
    return passdb.group(0), acl.group(1)


class ExampleDovecot(Dovecot):
    """The test Dovecot with the example's master user setup."""

    def config_text(self, users_file, master_file):
        text = super().config_text(users_file, master_file)
        passdb, acl = example_parts()
        passdb = passdb.replace("/etc/dovecot/master-users", master_file)
        acl_file = os.path.join(self.dir, "dovecot-acl")
        with open(acl_file, "w") as f:
            f.write("* user=%s lr\n" % self.master_user)
        os.chmod(acl_file, 0o644)
        acl = acl.replace("/etc/dovecot/dovecot-acl", acl_file)
        ours = MASTER_BLOCK.search(text)
        assert ours, "dovecot.py's master passdb changed shape"
        # The ACL's mail_plugins must come before the protocol blocks.
        return (acl + text[:ours.start()] + passdb + text[ours.end():])


class SourceIMAP4(imaplib.IMAP4):
    """imaplib.IMAP4 whose connection comes from a given local address."""

    def __init__(self, host, port, source):
        self._source = source
        super().__init__(host, port)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._source, 0))


def raw_session(dv, commands):
    """Logs in as bob*master over a plain socket and runs commands; returns
    {command: every byte answered to it}."""
    s = socket.create_connection(("127.0.0.1", dv.imap_port), 10)
    f = s.makefile("rwb")
    f.readline()
    out = {}
    for i, cmd in enumerate(["LOGIN bob@example.org*%s %s"
                             % (dv.master_user, dv.master_password)] +
                            commands):
        tag = b"t%d" % i
        f.write(tag + b" " + cmd.encode() + b"\r\n")
        f.flush()
        got = b""
        while True:
            line = f.readline()
            got += line
            if not line or line.startswith(tag + b" "):
                break
        out[cmd] = got
    s.close()
    return out


@pytest.fixture
def dv(tidingsd_binary, tmpdir_short):
    d = ExampleDovecot(tmpdir_short, {"bob@example.org": "pw"},
                       master_user="tidings")
    d.start()
    d.deliver("bob@example.org",
              make_mail("Alice <alice@example.org>", "bob@example.org",
                        "Hello"))
    yield d
    d.stop()


def test_master_login_only_from_loopback(dv):
    im = SourceIMAP4("127.0.0.1", dv.imap_port, "127.0.0.1")
    im.login("bob@example.org*tidings", dv.master_password)
    im.logout()
    # The same password from another address (127.0.0.2 is loopback on
    # Linux too, but not in allow_nets) is refused.
    im = SourceIMAP4("127.0.0.1", dv.imap_port, "127.0.0.2")
    with pytest.raises(imaplib.IMAP4.error):
        im.login("bob@example.org*tidings", dv.master_password)
    im.logout()
    # The user's own login is not restricted.
    im = SourceIMAP4("127.0.0.1", dv.imap_port, "127.0.0.2")
    im.login("bob@example.org", "pw")
    im.logout()


def test_master_user_reads_but_changes_nothing(dv):
    im = dv.imap_master("bob@example.org")
    typ, data = im.status("INBOX", "(MESSAGES UNSEEN UIDNEXT)")
    assert typ == "OK" and b"MESSAGES 1" in data[0], data
    # What tidingsd does: EXAMINE, UID SEARCH, FETCH with BODY.PEEK.
    assert im.select("INBOX", readonly=True)[0] == "OK"
    typ, data = im.uid("FETCH", "1:*", "(UID FLAGS ENVELOPE "
                       "BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and b"Hello" in b"".join(
        x if isinstance(x, bytes) else b"".join(x) for x in data), data
    im.close()
    im.logout()
    # Anything that changes the mailbox is refused: SELECT opens it
    # read-only, flags do not stick, APPEND, CREATE and DELETE fail.
    out = raw_session(dv, ["SELECT INBOX", "UID STORE 1 +FLAGS (\\Seen)",
                           "UID FETCH 1 (FLAGS)", "CREATE Evil",
                           "DELETE INBOX"])
    assert b"[READ-ONLY]" in out["SELECT INBOX"], out
    assert b"\\Seen" not in out["UID FETCH 1 (FLAGS)"], out
    for cmd in ("CREATE Evil", "DELETE INBOX"):
        assert out[cmd].splitlines()[-1].split()[1] == b"NO", out
    im = dv.imap_master("bob@example.org")
    typ, _ = im.append("INBOX", None, None, b"Subject: x\r\n\r\ny\r\n")
    assert typ == "NO"
    im.logout()
    # The user still has every right.
    im = dv.imap("bob@example.org")
    assert im.select("INBOX")[0] == "OK"
    typ, _ = im.uid("STORE", "1", "+FLAGS", "(\\Seen)")
    assert typ == "OK"
    typ, data = im.uid("FETCH", "1", "(FLAGS)")
    assert b"\\Seen" in data[0], data
    im.logout()


def test_tidings_scan_works_with_the_restricted_master_user(dv):
    """tidingsd's own IMAP scan (through imap_probe) needs nothing more."""
    probe = os.path.join(td.build_dir(), "tests", "unit", "imap",
                         "imap_probe")
    out = subprocess.run([probe, "-f", "1", "127.0.0.1", str(dv.imap_port),
                          dv.master_user, dv.master_password,
                          "bob@example.org"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)["results"][0]
    assert not res.get("error"), res
    assert [m["subject"] for m in res["msgs"]] == ["Hello"], res
    assert not res["msgs"][0]["seen"], res
    # And the mail is still unseen for bob afterwards.
    im = dv.imap("bob@example.org")
    im.select("INBOX", readonly=True)
    typ, data = im.uid("FETCH", "1", "(FLAGS)")
    assert b"\\Seen" not in data[0], data
    im.logout()
