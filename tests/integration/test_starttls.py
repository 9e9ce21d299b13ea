"""XMPP logins over STARTTLS, as real clients make them.

Prosody offers STARTTLS with a certificate from a CA made at start
(prosody.py); the suite's own clients still log in over plain TCP, the
demo's Prosody (tls="require") refuses that. Here slixmpp clients log in
over STARTTLS and verify the server against that CA, and a real client,
go-sendxmpp, talks to a Prosody configured like the demo's.
"""

import os
import shutil
import subprocess

import pytest

from prosody import make_certificates
from tidingsd import SLOW

GO_SENDXMPP = shutil.which("go-sendxmpp")


def test_starttls_login_gets_new_mail(make_stack):
    st = make_stack()
    bob = st.client("bob", tls=True)
    assert bob.tls_version in ("TLSv1.2", "TLSv1.3"), bob.tls_version
    # The suite's usual clients stay on plain TCP on the same server.
    carol = st.client("carol")
    assert carol.tls_version is None
    st.mail("bob", subject="Over TLS")
    n = bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert n is not None, "no notification over the TLS session"
    assert n.frm == "mail.example.org"
    assert n.to.split("/")[0] == "bob@example.org"
    assert n.mail["subject"] == "Over TLS"
    assert n.mail["from"] == "alice@example.org"
    assert n.body.startswith("New mail from Alice Example "
                             "<alice@example.org>\nSubject: Over TLS\n")
    log = st.prosody.log()
    assert "Stream encrypted" in log
    assert "Authenticated as bob@example.org" in log


def test_starttls_wrong_password_is_refused(make_stack):
    st = make_stack(start_tidings=False)
    with pytest.raises(RuntimeError, match="authentication failed"):
        st.client("alice", tls=True, password="not-" + st.users["alice"])
    assert "Authenticated as alice@example.org" not in st.prosody.log()
    # TLS itself was fine: the right password works at once.
    alice = st.client("alice", tls=True)
    assert alice.tls_version is not None


def test_certificate_from_another_ca_is_rejected(make_stack, tmpdir_short):
    st = make_stack(start_tidings=False)
    other_ca, _, _ = make_certificates(
        os.path.join(tmpdir_short, "other-certs"),
        [st.domain, st.component])
    from xmppclient import Client
    c = Client("bob")
    with pytest.raises(RuntimeError, match="certificate not accepted"):
        c.connect(st.jid("bob") + "/x", st.users["bob"], "127.0.0.1",
                  st.prosody.c2s_port, tls=True, ca_file=other_ca)
    assert "Authenticated as bob@example.org" not in st.prosody.log()


def test_certificate_for_another_name_is_rejected(make_stack, tmpdir_short):
    """A chain that verifies is not enough: the certificate must name the
    JID's domain (slixmpp 1.8.3 would skip that check when it connects to
    an IP address; xmppclient makes it check the JID's domain)."""
    st = make_stack(start_tidings=False)
    other_ca, other_cert, other_key = make_certificates(
        os.path.join(tmpdir_short, "other-certs"),
        ["other.example", "mail.other.example"])
    shutil.copyfile(other_cert, st.prosody.cert_file)
    shutil.copyfile(other_key, st.prosody.key_file)
    st.prosody.restart()
    from xmppclient import Client
    c = Client("bob")
    with pytest.raises(RuntimeError, match="certificate not accepted"):
        c.connect(st.jid("bob") + "/x", st.users["bob"], "127.0.0.1",
                  st.prosody.c2s_port, tls=True, ca_file=other_ca)
    assert "Authenticated as bob@example.org" not in st.prosody.log()


def test_certificate_names_both_domains(make_stack):
    st = make_stack(start_tidings=False)
    for name in (st.domain, st.component):
        out = subprocess.run(
            ["openssl", "x509", "-in", st.prosody.cert_file, "-noout",
             "-checkhost", name], capture_output=True, text=True).stdout
        assert "does match" in out, out
    out = subprocess.run(["openssl", "verify", "-CAfile", st.prosody.ca_file,
                          st.prosody.cert_file],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert os.stat(st.prosody.key_file).st_mode & 0o077 == 0
    # The CA's key is gone: nothing else can ever chain to ca_file.
    assert not [f for f in os.listdir(st.prosody.certs_dir)
                if f.endswith(".key") and f != os.path.basename(
                    st.prosody.key_file)]


def test_required_encryption_refuses_plain_login(make_stack):
    st = make_stack(tls="require")
    with pytest.raises(RuntimeError, match="no way to log in"):
        st.client("bob")
    bob = st.client("bob", tls=True)
    st.mail("bob")
    assert bob.wait_for_message(lambda n: n.mail is not None,
                                5.0 * SLOW) is not None


def test_client_with_tls_refuses_a_server_without_starttls(make_stack):
    st = make_stack(tls="off", start_tidings=False)
    with pytest.raises(RuntimeError, match="no usable authentication"):
        st.client("bob", tls=True)
    assert "Authenticated as bob" not in st.prosody.log()


def _go_sendxmpp(st, tmpdir, user, to, text, ca_file=None):
    """Send `text` from `user` to `to` with go-sendxmpp; return the
    CompletedProcess. With `ca_file`, SSL_CERT_FILE and an empty
    SSL_CERT_DIR make Go trust that CA alone; without, Go uses the system's
    trust store."""
    home = os.path.join(tmpdir, "home")
    os.makedirs(home, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home}
    if ca_file is not None:
        empty = os.path.join(tmpdir, "no-certs")
        os.makedirs(empty, exist_ok=True)
        env["SSL_CERT_FILE"] = ca_file
        env["SSL_CERT_DIR"] = empty
    return subprocess.run(
        [GO_SENDXMPP, "-u", st.jid(user), "-p", st.users[user],
         "-j", "127.0.0.1:%d" % st.prosody.c2s_port,
         "--timeout", str(int(10 * SLOW)), st.jid(to)],
        input=text + "\n", capture_output=True, text=True, env=env,
        timeout=30 * SLOW)


def test_go_sendxmpp_over_starttls_like_the_demo(make_stack, tmpdir_short):
    if GO_SENDXMPP is None:
        pytest.fail("go-sendxmpp is not installed (tests/deps.sh installs "
                    "it: apt-get install go-sendxmpp)")
    # The demo's configuration: domain localhost, STARTTLS required.
    st = make_stack(domain="localhost", tls="require")
    bob = st.client("bob", tls=True)

    # Without the demo's CA, go-sendxmpp refuses the certificate.
    r = _go_sendxmpp(st, tmpdir_short, "alice", "bob", "untrusted")
    assert r.returncode != 0, r.stdout + r.stderr
    assert "certificate signed by unknown authority" in r.stderr, r.stderr

    # Trusting the CA, it logs in over STARTTLS and the message arrives.
    r = _go_sendxmpp(st, tmpdir_short, "alice", "bob",
                     "hello over TLS from go-sendxmpp",
                     ca_file=st.prosody.ca_file)
    assert r.returncode == 0, r.stdout + r.stderr
    n = bob.wait_for_message(
        lambda n: n.body == "hello over TLS from go-sendxmpp", 10.0 * SLOW)
    assert n is not None, bob.messages
    assert n.frm.startswith("alice@localhost/")
    assert not [m for m in bob.messages if m.body == "untrusted"]
    # Then bob gets mail as usual.
    st.mail("bob", subject="After go-sendxmpp")
    n = bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert n is not None and n.frm == "mail.localhost"
