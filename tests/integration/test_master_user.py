"""The master user as examples/dovecot/90-tidings.conf sets it up.

A real Dovecot runs with the example's master passdb block, its ACL
block and its global ACL file (paths changed to the test's): the master
user logs in only from loopback, and once in it can look and read, and
append (with \\Seen) to the Sent mailbox, but change nothing else.
tidingsd needs no more than that: its reconciliation, its look-ups of
headers and its copies of sent mail work through it.
"""

import imaplib
import json
import os
import re
import socket
import subprocess
import sys
import time

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
    """(master passdb block, ACL block, global ACL file) of the example."""
    text = open(EXAMPLE).read()
    passdb = MASTER_BLOCK.search(text)
    acl = re.search(r"#@acl-begin\n(.*?)#@acl-end", text, re.S)
    acl_file = re.search(r"#@acl-file-begin\n(.*?)#@acl-file-end", text,
                         re.S)
    assert passdb and acl and acl_file, \
        "the example lost its master passdb, ACL block or ACL file"
    lines = [line[2:] for line in acl_file.group(1).splitlines()]
    assert lines and all(line.strip() for line in lines), lines
    return passdb.group(0), acl.group(1), "\n".join(lines) + "\n"


class ExampleDovecot(Dovecot):
    """The test Dovecot with the example's master user setup."""

    def config_text(self, users_file, master_file):
        text = super().config_text(users_file, master_file)
        passdb, acl, acl_lines = example_parts()
        passdb = passdb.replace("/etc/dovecot/master-users", master_file)
        acl_file = os.path.join(self.dir, "dovecot-acl")
        with open(acl_file, "w") as f:
            f.write(acl_lines.replace("user=tidings",
                                      "user=" + self.master_user))
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


def jobs_probe(dv, *args):
    """Runs imap_jobs_probe as the master user; returns its JSON result."""
    probe = os.path.join(td.build_dir(), "tests", "unit", "imap",
                         "imap_jobs_probe")
    out = subprocess.run([probe, "127.0.0.1", str(dv.imap_port),
                          dv.master_user, dv.master_password,
                          "bob@example.org"] + [str(a) for a in args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_master_user_appends_to_sent_only(dv, tmp_path):
    """APPEND (with \\Seen) works in Sent and nowhere else; in Sent no
    other flag sticks, nothing is expunged, renamed or deleted."""
    im = dv.imap("bob@example.org")
    assert im.create("Archive")[0] == "OK"
    im.logout()
    msg = make_mail("bob@example.org", "carol@example.net", "Copy")
    im = dv.imap_master("bob@example.org")
    for box in ("INBOX", "Archive"):
        typ, data = im.append(box, "(\\Seen)", None, msg)
        assert typ == "NO" and b"NOPERM" in data[0], (box, data)
    typ, data = im.append("Sent", "(\\Seen)", None, msg)
    assert typ == "OK" and b"APPENDUID" in data[0], data
    im.logout()
    out = raw_session(dv, ["SELECT Sent",
                           "UID STORE 1 +FLAGS (\\Flagged \\Deleted)",
                           "EXPUNGE", "UID FETCH 1:* (FLAGS)",
                           "CREATE Sent.sub", "RENAME Sent Gone"])
    assert b"\\Flagged" not in out["UID FETCH 1:* (FLAGS)"], out
    assert b"\\Deleted" not in out["UID FETCH 1:* (FLAGS)"], out
    for cmd in ("CREATE Sent.sub", "RENAME Sent Gone"):
        assert out[cmd].splitlines()[-1].split()[1] == b"NO", out
    # Through tidingsd's own job, with the example's ACLs.
    path = tmp_path / "copy.eml"
    path.write_bytes(make_mail("bob@example.org", "carol@example.net",
                               "From chat"))
    res = jobs_probe(dv, "append", path, 1706778000)
    assert res["error_class"] == "ok", res
    assert res["mailbox"] == "Sent" and res["uid"] == 2, res
    # The user sees both copies, \Seen, and nothing else changed.
    im = dv.imap("bob@example.org")
    im.select("Sent", readonly=True)
    typ, data = im.uid("FETCH", "1:*", "(FLAGS INTERNALDATE)")
    assert typ == "OK" and len(data) == 2, data
    for line in data:
        assert b"\\Seen" in line and b"\\Flagged" not in line, data
    assert time.mktime(imaplib.Internaldate2tuple(data[1])) == 1706778000
    for box in ("INBOX", "Archive"):
        typ, data = im.status(box, "(MESSAGES)")
        assert data[0].endswith(b"(MESSAGES %d)"
                                % (1 if box == "INBOX" else 0)), data
    im.logout()


def test_master_user_headers_job(dv):
    """tidingsd's look-up of a mail to answer works through the example's
    ACLs and leaves the mail unseen."""
    res = jobs_probe(dv, "search", "INBOX", "alice@example.org", 0)
    assert res["error_class"] == "ok" and res["found"], res
    assert res["subject"] == "Hello", res
    assert res["from_address"] == "alice@example.org", res
    im = dv.imap("bob@example.org")
    im.select("INBOX", readonly=True)
    typ, data = im.uid("FETCH", "1", "(FLAGS)")
    assert b"\\Seen" not in data[0], data
    im.logout()
