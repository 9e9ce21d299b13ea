"""TLS of the IMAP worker pool (mailstore/ms_imap_stream.c) against a real
Dovecot with certificates made here by the `openssl` command line, and
against the fake server (fakeimap.py) to see what goes over the wire.

A test CA signs a certificate for 127.0.0.1 (IP SAN) and "localhost", and
one for another name; a second CA, nobody trusts, signs one for 127.0.0.1
too. imap_probe (tests/unit/imap/imap_probe.c) runs the scans; under an
ASan build it runs sanitized and must exit 0. Run as root:
/usr/bin/python3 -m pytest -v FILE.
"""

import os
import ssl
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dovecot import Dovecot, make_mail  # noqa: E402
from fakeimap import FakeImap, Server, run_probe  # noqa: E402

ALICE = "alice@example.org"
MASTER_PW = "master-tls-pw"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-keyout", name + ".key", "-out", name + ".pem",
            "-subj", "/CN=tidings test %s" % name,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    return os.path.join(d, name + ".pem")


def make_cert(d, ca, name, sans):
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("basicConstraints = CA:FALSE\n"
                "keyUsage = critical,digitalSignature\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectAltName = %s\n" % sans)
    openssl("req", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr",
            "-subj", "/CN=" + name, cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
            "-CAkey", ca + ".key", "-CAcreateserial", "-days", "2",
            "-extfile", name + ".ext", "-out", name + ".pem", cwd=d)
    return os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    p = {"ca": make_ca(d, "ca"), "evil_ca": make_ca(d, "evil-ca")}
    p["good"] = make_cert(d, "ca", "good", "IP:127.0.0.1, DNS:localhost")
    p["other"] = make_cert(d, "ca", "other",
                           "DNS:other.example.org, IP:192.0.2.1")
    p["evil"] = make_cert(d, "evil-ca", "evil",
                          "IP:127.0.0.1, DNS:localhost")
    return p


def start_dovecot(tmp_path_factory, name, cert):
    d = Dovecot(tmp_path_factory.mktemp(name), {ALICE: "alice-pw"},
                master_password=MASTER_PW, ssl_cert=cert[0],
                ssl_key=cert[1])
    d.start()
    return d


@pytest.fixture(scope="module")
def dv(tmp_path_factory, pki):
    d = start_dovecot(tmp_path_factory, "good", pki["good"])
    d.deliver(ALICE, make_mail("Bob <bob@example.net>", ALICE, "over TLS",
                               msgid="<tls1@example.net>"))
    yield d
    d.stop()


@pytest.fixture(scope="module")
def dv_other(tmp_path_factory, pki):
    d = start_dovecot(tmp_path_factory, "other", pki["other"])
    yield d
    d.stop()


def scan(host, port, mode, *opts, users=(ALICE,)):
    out, _ = run_probe(host, port, users, "-s", mode, "-t", 5000, "-f", 1,
                       *opts, master_password=MASTER_PW)
    return out["results"][0]


def check_alice(r):
    assert r["error"] is None and r["error_class"] == "ok", r
    assert (r["messages"], r["unseen"], r["uidnext"]) == (1, 1, 2)
    assert [(m["uid"], m["subject"], m["from_address"])
            for m in r["msgs"]] == [(1, "over TLS", "bob@example.net")]


def test_starttls_with_ca_file(dv, pki):
    before = len(dv.login_lines(ALICE))
    check_alice(scan("127.0.0.1", dv.imap_port, "starttls", "-c",
                     pki["ca"]))
    check_alice(scan("localhost", dv.imap_port, "starttls", "-c",
                     pki["ca"]))
    logins = dv.login_lines(ALICE)[before:]
    assert len(logins) == 2, dv.log_tail()
    # Dovecot marks a login over TLS; loopback alone says "secured".
    assert all(", TLS," in line for line in logins), logins


def test_implicit_tls(dv, pki):
    before = len(dv.login_lines(ALICE))
    check_alice(scan("127.0.0.1", dv.imaps_port, "tls", "-c", pki["ca"]))
    check_alice(scan("localhost", dv.imaps_port, "tls", "-c", pki["ca"]))
    logins = dv.login_lines(ALICE)[before:]
    assert len(logins) == 2 and all(", TLS," in line for line in logins)


def refused(r, host, reason):
    assert r["error_class"] == "tls", r
    assert r["error"] == "TLS: certificate of %s not trusted: %s" % (
        host, reason), r["error"]
    assert r["msgs"] == [] and r["uidnext"] == 0
    assert MASTER_PW not in r["error"]


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_certificate_for_another_name(dv_other, pki, mode):
    port = dv_other.imap_port if mode == "starttls" else dv_other.imaps_port
    before = len(dv_other.login_lines())
    refused(scan("127.0.0.1", port, mode, "-c", pki["ca"]), "127.0.0.1",
            "IP address mismatch")
    refused(scan("localhost", port, mode, "-c", pki["ca"]), "localhost",
            "hostname mismatch")
    assert dv_other.login_lines()[before:] == [], dv_other.log_tail()


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_untrusted_ca(dv, pki, mode):
    port = dv.imap_port if mode == "starttls" else dv.imaps_port
    before = len(dv.login_lines())
    # The other CA, and the system's CAs (no -c): neither signed it.
    refused(scan("127.0.0.1", port, mode, "-c", pki["evil_ca"]),
            "127.0.0.1", "unable to get local issuer certificate")
    refused(scan("127.0.0.1", port, mode), "127.0.0.1",
            "unable to get local issuer certificate")
    assert dv.login_lines()[before:] == []


def test_ca_file_unreadable(dv, tmp_path):
    missing = os.path.join(str(tmp_path), "nope.pem")
    out = subprocess.run(
        [os.path.join(os.environ.get("TIDINGS_BUILD", "/work/main/build"),
                      "tests", "unit", "imap", "imap_probe"),
         "-s", "tls", "-c", missing, "127.0.0.1", str(dv.imaps_port),
         "tidings", MASTER_PW, ALICE], capture_output=True, text=True,
        timeout=30)
    assert out.returncode == 1
    assert "imap: ca_file %s: " % missing in out.stderr


# -- what goes over the wire: the fake server with TLS -----------------------

def server_context(cert):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert[0], cert[1])
    return ctx


def fake_scan(fake, mode, ca):
    out, _ = run_probe("127.0.0.1", fake.port, [ALICE], "-s", mode, "-t",
                       3000, "-f", 1, "-c", ca, master_password=MASTER_PW)
    assert not fake.errors, fake.errors
    return out["results"][0]


def test_fake_starttls_everything_after_tls(pki):
    with FakeImap([Server()], server_context(pki["good"])) as fake:
        r = fake_scan(fake, "starttls", pki["ca"])
    assert r["error_class"] == "ok" and r["range_count"] == 3, r
    cmds = fake.commands()
    assert cmds[0] == (False, b"STARTTLS")
    assert cmds[1:] == [(True, c) for c in (
        b"LOGIN", b"STATUS", b"EXAMINE", b"UID SEARCH", b"UID FETCH",
        b"LOGOUT")]


class NoStartTls(Server):
    greeting = b"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] no TLS\r\n"

    def on_starttls(self, c, tag, args):
        c.send(tag + b" BAD STARTTLS not supported\r\n")


class NoTlsAfterOk(Server):
    """Says OK to STARTTLS, then goes on in clear."""

    def on_starttls(self, c, tag, args):
        c.send(tag + b" OK Begin TLS negotiation now\r\n")


def test_fake_no_login_in_clear(pki):
    # STARTTLS refused.
    with FakeImap([NoStartTls()], server_context(pki["good"])) as fake:
        r = fake_scan(fake, "starttls", pki["ca"])
    assert r["error_class"] == "tls"
    assert r["error"] == "STARTTLS failed: STARTTLS not supported"
    assert fake.commands() == [(False, b"STARTTLS")]
    # A certificate for another name: no LOGIN, in clear or not.
    with FakeImap([Server()], server_context(pki["other"])) as fake:
        r = fake_scan(fake, "starttls", pki["ca"])
    assert r["error_class"] == "tls"
    assert r["error"] == "TLS: certificate of 127.0.0.1 not trusted: " \
                         "IP address mismatch"
    assert fake.commands() == [(False, b"STARTTLS")]
    # OK, then no handshake (plain text where TLS should be).
    with FakeImap([NoTlsAfterOk()]) as fake:
        r = fake_scan(fake, "starttls", pki["ca"])
    assert r["error_class"] in ("tls", "temp"), r
    assert r["error"].startswith("TLS"), r
    cmds = fake.commands()  # then the ClientHello, read as "commands"
    assert cmds[0] == (False, b"STARTTLS")
    assert not any(b"LOGIN" in c for _, c in cmds), cmds
