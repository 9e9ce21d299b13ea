"""SMTP submission (mailstore/ms_smtp*.c) against a real Postfix 3.7
(postfix.py) delivering over LMTP into a real Dovecot, and against a
silent fake listener for the timeout and cancel cases.

smtp_probe (tests/unit/smtp/smtp_probe.c) submits through the pool's
async API and prints JSON; under an ASan build it runs sanitized and must
exit 0. Certificates come from a test CA (as in test_imap_tls.py). Run as
root: /usr/bin/python3 -m pytest -v FILE.
"""

import email
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import json

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dovecot import Dovecot  # noqa: E402
from fakeimap import sanitized_build  # noqa: E402
from postfix import Postfix  # noqa: E402
from procutil import free_port  # noqa: E402
from test_imap_tls import make_ca, make_cert  # noqa: E402

BUILD = os.environ.get("TIDINGS_BUILD", os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "build"))
PROBE = os.path.join(BUILD, "tests", "unit", "smtp", "smtp_probe")

ALICE = "alice@example.org"
BOB = "bob@example.org"
NOBODY = "nobody@example.org"
BUSY = "busy@example.org"


def run_probe(tmp_path, port, sender, rcpts, *opts, message=None,
              host="127.0.0.1", timeout=60):
    """Run smtp_probe; return (parsed JSON, seconds it took)."""
    assert os.path.exists(PROBE), "smtp_probe not built: %s" % PROBE
    if message is None:
        message = b"Subject: test\r\n\r\nhello\r\n"
    path = os.path.join(str(tmp_path), "msg-%s.eml" % secrets.token_hex(4))
    with open(path, "wb") as f:
        f.write(message)
    env = dict(os.environ)
    if sanitized_build(BUILD):
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=1"
        env["UBSAN_OPTIONS"] = "halt_on_error=1:abort_on_error=1:" \
                               "print_stacktrace=1"
    args = [PROBE] + [str(o) for o in opts] + [host, str(port), sender,
                                               path] + list(rcpts)
    t0 = time.monotonic()
    out = subprocess.run(args, capture_output=True, text=True,
                         timeout=timeout, env=env)
    elapsed = time.monotonic() - t0
    assert out.returncode == 0, "smtp_probe exited %d: %s" % (
        out.returncode, out.stderr[-4000:])
    return json.loads(out.stdout), elapsed


def make_message(subject, body="Hello.\r\n"):
    mid = "<%s@example.org>" % secrets.token_hex(8)
    return mid, ("From: Alice <alice@example.org>\r\n"
                 "To: bob@example.org\r\n"
                 "Subject: %s\r\n"
                 "Message-ID: %s\r\n"
                 "\r\n%s" % (subject, mid, body)).encode()


def fetch_by_message_id(dv, user, mid, timeout=20.0):
    """The raw message with Message-ID mid in user's INBOX (waits)."""
    deadline = time.monotonic() + timeout
    while True:
        im = dv.imap(user)
        try:
            im.select("INBOX")
            typ, data = im.search(None, "HEADER", "Message-ID", mid)
            ids = data[0].split()
            if ids:
                typ, msg = im.fetch(ids[-1], "(BODY.PEEK[])")
                return msg[0][1], len(ids)
        finally:
            im.logout()
        if time.monotonic() > deadline:
            return None, 0
        time.sleep(0.1)


def count_message_id(dv, user, mid):
    im = dv.imap(user)
    try:
        im.select("INBOX")
        typ, data = im.search(None, "HEADER", "Message-ID", mid)
        return len(data[0].split())
    finally:
        im.logout()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    p = {"ca": make_ca(d, "ca"), "evil_ca": make_ca(d, "evil-ca")}
    p["good"] = make_cert(d, "ca", "good", "IP:127.0.0.1, DNS:localhost")
    p["other"] = make_cert(d, "ca", "other",
                           "DNS:other.example.org, IP:192.0.2.1")
    return p


ALICE_PW = "alice-smtp-pw"

# Postfix asks this Dovecot auth socket about SASL logins.
AUTH_LISTENER = """service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
"""


@pytest.fixture(scope="module")
def dv(tmp_path_factory):
    d = Dovecot(tmp_path_factory.mktemp("dv"),
                {ALICE: ALICE_PW, BOB: "bob-pw"}, extra_conf=AUTH_LISTENER)
    d.start()
    yield d
    d.stop()


def start_postfix(tmp_path_factory, name, dv, cert, **kw):
    pf = Postfix(tmp_path_factory.mktemp(name), dv.lmtp_port, [ALICE, BOB],
                 tls_cert=cert[0], tls_key=cert[1], **kw)
    pf.start()
    return pf


@pytest.fixture(scope="module")
def pf(tmp_path_factory, dv, pki):
    p = start_postfix(
        tmp_path_factory, "pf", dv, pki["good"],
        rcpt_access={BUSY: "450 4.2.1 Mailbox busy, try later"},
        sender_access={"slow@example.net": "451 4.3.0 Try again later",
                       "banned@example.net": "553 5.7.1 Sender banned"},
        # Sender checks answer MAIL FROM itself, not the first RCPT TO.
        main_extra={"smtpd_delay_reject": "no"})
    yield p
    p.stop()


@pytest.fixture(scope="module")
def pf_other(tmp_path_factory, dv, pki):
    """A Postfix whose certificate names another host."""
    p = start_postfix(tmp_path_factory, "pf-other", dv, pki["other"])
    yield p
    p.stop()


@pytest.fixture(scope="module")
def pf_auth(tmp_path_factory, dv, pki):
    """A submission-like Postfix: AUTH (Dovecot SASL) only after STARTTLS,
    and only authenticated clients may send."""
    p = start_postfix(
        tmp_path_factory, "pf-auth", dv, pki["good"],
        main_extra={
            "smtpd_sasl_auth_enable": "yes",
            "smtpd_sasl_type": "dovecot",
            "smtpd_sasl_path": os.path.join(dv.base_dir, "auth-postfix"),
            "smtpd_tls_auth_only": "yes",
            "mynetworks": "192.0.2.1/32",
            "smtpd_relay_restrictions": "permit_sasl_authenticated, reject",
            "smtpd_recipient_restrictions":
                "permit_sasl_authenticated, reject",
        })
    yield p
    p.stop()


class SilentServer:
    """Accepts TCP connections and never says anything."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def silent():
    s = SilentServer()
    yield s
    s.close()


def rcpt(result, address):
    return next(r for r in result["rcpts"] if r["address"] == address)


def test_delivered_to_inbox_with_envelope_sender(tmp_path, dv, pf):
    body = ("first line\n.leading dot\r\n..two dots\nlast line without end")
    mid, msg = make_message("plain delivery", body)
    out, _ = run_probe(tmp_path, pf.smtp_port, ALICE, [BOB], message=msg)
    res = out["results"][0]
    assert res["status"] == "ok", res
    assert res["error"] == "none" and res["text"] is None
    assert rcpt(res, BOB)["status"] == "ok"
    assert rcpt(res, BOB)["code"] == 250
    assert out["callbacks"] == 1
    raw, n = fetch_by_message_id(dv, BOB, mid)
    assert raw is not None, pf.log_tail()
    m = email.message_from_bytes(raw)
    # The envelope sender, as Dovecot's LMTP recorded it.
    assert m["Return-Path"] == "<%s>" % ALICE
    assert m["Subject"] == "plain delivery"
    # Line ends made CRLF, dots unstuffed again by Postfix: the body as
    # written, ended.
    assert raw.split(b"\r\n\r\n", 1)[1] == (
        b"first line\r\n.leading dot\r\n..two dots\r\n"
        b"last line without end\r\n")
    assert "from=<%s>" % ALICE in pf.log()


def test_starttls_verified(tmp_path, dv, pf, pki):
    mid, msg = make_message("over starttls")
    out, _ = run_probe(tmp_path, pf.smtp_port, ALICE, [BOB], "-s",
                       "starttls", "-c", pki["ca"], message=msg)
    res = out["results"][0]
    assert res["status"] == "ok", res
    raw, _ = fetch_by_message_id(dv, BOB, mid)
    assert raw is not None
    # Postfix saw the mail come in over TLS.
    assert b"with ESMTPS id" in raw, raw[:800]


def test_starttls_wrong_name_refused(tmp_path, dv, pf_other, pki):
    mid, msg = make_message("must not be sent")
    out, _ = run_probe(tmp_path, pf_other.smtp_port, ALICE, [BOB], "-s",
                       "starttls", "-c", pki["ca"], message=msg)
    res = out["results"][0]
    assert res["status"] == "temp", res
    assert res["error"] == "tls"
    assert res["text"] == ("TLS: certificate of 127.0.0.1 not trusted: "
                           "IP address mismatch"), res
    assert rcpt(res, BOB)["status"] == "temp"
    assert rcpt(res, BOB)["code"] == 0
    # Nothing after the handshake: no MAIL FROM reached Postfix.
    time.sleep(0.5)
    assert "from=<%s>" % ALICE not in pf_other.log()
    assert count_message_id(dv, BOB, mid) == 0


def test_starttls_untrusted_ca_refused(tmp_path, pf, pki):
    out, _ = run_probe(tmp_path, pf.smtp_port, ALICE, [BOB], "-s",
                       "starttls", "-c", pki["evil_ca"])
    res = out["results"][0]
    assert (res["status"], res["error"]) == ("temp", "tls"), res
    assert res["text"].startswith("TLS: certificate of 127.0.0.1 not "
                                  "trusted: "), res


def test_refused_recipient_is_permanent_others_delivered(tmp_path, dv, pf):
    mid, msg = make_message("one refused")
    out, _ = run_probe(tmp_path, pf.smtp_port, ALICE, [NOBODY, BOB],
                       message=msg)
    res = out["results"][0]
    assert res["status"] == "ok", res
    nob = rcpt(res, NOBODY)
    assert nob["status"] == "perm" and nob["code"] == 550, nob
    assert "User unknown in virtual mailbox table" in nob["text"]
    assert nob["text"].startswith("550 5.1.1 <nobody@example.org>")
    assert rcpt(res, BOB)["status"] == "ok"
    raw, _ = fetch_by_message_id(dv, BOB, mid)
    assert raw is not None


def test_all_recipients_refused_is_permanent(tmp_path, pf):
    out, _ = run_probe(tmp_path, pf.smtp_port, ALICE, [NOBODY])
    res = out["results"][0]
    assert (res["status"], res["error"], res["code"]) == (
        "perm", "reply", 550), res
    assert res["text"].startswith(
        "RCPT TO: no recipient accepted: <nobody@example.org>: 550 5.1.1")
    assert rcpt(res, NOBODY)["status"] == "perm"


def test_4xx_recipient_is_temporary(tmp_path, dv, pf):
    mid, msg = make_message("one busy")
    out, _ = run_probe(tmp_path, pf.smtp_port, ALICE, [BUSY, BOB],
                       message=msg)
    res = out["results"][0]
    assert res["status"] == "ok", res
    busy = rcpt(res, BUSY)
    assert (busy["status"], busy["code"]) == ("temp", 450), busy
    assert "Mailbox busy" in busy["text"]
    assert fetch_by_message_id(dv, BOB, mid)[0] is not None

    out, _ = run_probe(tmp_path, pf.smtp_port, ALICE, [BUSY])
    res = out["results"][0]
    assert (res["status"], res["error"], res["code"]) == (
        "temp", "reply", 450), res


def test_sender_refusals(tmp_path, pf):
    out, _ = run_probe(tmp_path, pf.smtp_port, "slow@example.net", [BOB])
    res = out["results"][0]
    assert (res["status"], res["error"], res["code"]) == (
        "temp", "reply", 451), res
    assert res["text"] == "MAIL FROM: 451 4.3.0 <slow@example.net>: " \
                          "Sender address rejected: Try again later"
    assert rcpt(res, BOB)["status"] == "temp"

    out, _ = run_probe(tmp_path, pf.smtp_port, "banned@example.net", [BOB])
    res = out["results"][0]
    assert (res["status"], res["error"], res["code"]) == (
        "perm", "reply", 553), res
    assert rcpt(res, BOB)["status"] == "perm"
    assert rcpt(res, BOB)["code"] == 0


def test_postfix_down_is_temporary(tmp_path):
    port = free_port()
    out, elapsed = run_probe(tmp_path, port, ALICE, [BOB], "-t", "2000")
    res = out["results"][0]
    assert (res["status"], res["error"], res["code"]) == (
        "temp", "connect", 0), res
    assert res["text"] == "connect to 127.0.0.1 port %d: Connection " \
                          "refused" % port
    assert elapsed < 5


def test_silent_server_times_out(tmp_path, silent):
    out, elapsed = run_probe(tmp_path, silent.port, ALICE, [BOB], "-t",
                             "500")
    res = out["results"][0]
    assert (res["status"], res["error"]) == ("temp", "timeout"), res
    assert res["text"] == "greeting: timed out after 500 ms"
    assert 0.4 < elapsed < 4, elapsed


def test_job_deadline(tmp_path, silent):
    # Each wait may take 2 s, the whole job only 700 ms.
    out, elapsed = run_probe(tmp_path, silent.port, ALICE, [BOB], "-t",
                             "2000", "-j", "700")
    res = out["results"][0]
    assert (res["status"], res["error"]) == ("temp", "timeout"), res
    assert res["text"] == "greeting: timed out: the job took longer than " \
                          "700 ms"
    assert elapsed < 1.9, elapsed


def test_cancel_running_job(tmp_path, silent):
    # Cancelled while it waits for a greeting: no callback, and the
    # worker lets go at once (not after the 20 s timeout).
    out, elapsed = run_probe(tmp_path, silent.port, ALICE, [BOB], "-t",
                             "20000", "-n", "3", "-w", "1", "-k", "300")
    assert out["callbacks"] == 0 and out["cancelled"] == 3, out
    assert out["results"] == [None, None, None]
    assert elapsed < 5, elapsed


def test_pool_of_submissions(tmp_path, dv, pf):
    mid, msg = make_message("five copies")
    out, _ = run_probe(tmp_path, pf.smtp_port, ALICE, [BOB], "-n", "5",
                       "-w", "2", message=msg)
    assert [r["status"] for r in out["results"]] == ["ok"] * 5, out
    deadline = time.monotonic() + 20
    while count_message_id(dv, BOB, mid) < 5:
        assert time.monotonic() < deadline, pf.log_tail()
        time.sleep(0.1)


def test_invalid_input_refused_before_queueing(tmp_path, pf):
    path = os.path.join(str(tmp_path), "m.eml")
    with open(path, "wb") as f:
        f.write(b"Subject: x\r\n\r\nx\r\n")
    out = subprocess.run([PROBE, "127.0.0.1", str(pf.smtp_port), ALICE,
                          path, "bob@example.org>\r\nRCPT TO:<x@y"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "invalid recipient address #1" in out.stderr


def test_auth_plain_after_starttls(tmp_path, dv, pf_auth, pki):
    mid, msg = make_message("authenticated")
    out, _ = run_probe(tmp_path, pf_auth.smtp_port, ALICE, [BOB], "-s",
                       "starttls", "-c", pki["ca"], "-u", ALICE, "-p",
                       ALICE_PW, message=msg)
    res = out["results"][0]
    assert res["status"] == "ok", res
    assert fetch_by_message_id(dv, BOB, mid)[0] is not None
    assert "sasl_method=PLAIN, sasl_username=%s" % ALICE in pf_auth.log()


def test_auth_refused_is_temporary_and_secret(tmp_path, pf_auth, pki):
    wrong = "wrong-pw-" + secrets.token_hex(6)
    out, _ = run_probe(tmp_path, pf_auth.smtp_port, ALICE, [BOB], "-s",
                       "starttls", "-c", pki["ca"], "-u", ALICE, "-p",
                       wrong)
    res = out["results"][0]
    assert (res["status"], res["error"], res["code"]) == (
        "temp", "auth", 535), res
    assert res["text"].startswith("AUTH: 535 5.7.8 "), res
    assert wrong not in json.dumps(out)
    assert rcpt(res, BOB)["status"] == "temp"


def test_auth_required_but_not_given(tmp_path, pf_auth, pki):
    out, _ = run_probe(tmp_path, pf_auth.smtp_port, ALICE, [BOB], "-s",
                       "starttls", "-c", pki["ca"])
    res = out["results"][0]
    # Postfix refuses the recipient for good: 554 at RCPT TO.
    assert (res["status"], res["code"]) == ("perm", 554), res
    assert "Access denied" in res["text"]


def test_auth_needs_tls(tmp_path, pf_auth):
    path = os.path.join(str(tmp_path), "m.eml")
    with open(path, "wb") as f:
        f.write(b"Subject: x\r\n\r\nx\r\n")
    out = subprocess.run([PROBE, "-u", ALICE, "-p", ALICE_PW, "127.0.0.1",
                          str(pf_auth.smtp_port), ALICE, path, BOB],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "AUTH would send the password in clear" in out.stderr
