"""tidingsd reaches Dovecot's IMAP over TLS ([mail] imap_tls, imap_ca_file)
and refuses a server whose certificate is not for imap_host.

Certificates come from a CA made in the test (test_imap_tls.py's helpers);
what tidingsd does over IMAP is seen by its effect: mail delivered while it
was down is caught up after a restart.
"""

import time

import pytest

from test_imap_tls import make_ca, make_cert
from tidingsd import SLOW


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    p = {"ca": make_ca(d, "ca")}
    p["good"] = make_cert(d, "ca", "good", "IP:127.0.0.1, DNS:localhost")
    p["other"] = make_cert(d, "ca", "other", "DNS:other.example.org")
    return p


def tls_stack(make_stack, cert, mode, ca):
    st = make_stack(start_tidings=False,
                    dovecot_kw={"ssl_cert": cert[0], "ssl_key": cert[1],
                                "ssl": "yes"})
    mail = st.tidingsd.sections["mail"]
    mail["imap_tls"] = mode
    mail["imap_ca_file"] = ca
    if mode == "tls":
        mail["imap_port"] = st.dovecot.imaps_port
    return st


def caught_up_while_down(st):
    """bob gets a mail with tidingsd up, one while it is down; the second
    one can only come from an IMAP scan at the restart."""
    bob = st.client("bob")
    st.mail("bob", subject="Live")
    assert bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert st.tidingsd.stop() == 0
    st.mail("bob", subject="While down")
    st.tidingsd.start()
    n = bob.wait_for_message(lambda n: n.mail is not None and
                             n.mail["subject"] == "While down", 10.0 * SLOW)
    assert n is not None, bob.messages


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_reconciles_over_tls(make_stack, pki, mode):
    st = tls_stack(make_stack, pki["good"], mode, pki["ca"])
    st.tidingsd.start()
    caught_up_while_down(st)
    logins = st.dovecot.login_lines("bob@example.org")
    assert logins and all(", TLS," in ln for ln in logins), logins


def test_certificate_for_another_name_is_refused(make_stack, pki):
    st = tls_stack(make_stack, pki["other"], "starttls", pki["ca"])
    offset = st.tidingsd.start()
    bob = st.client("bob")
    st.mail("bob", subject="Live")
    assert bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert st.tidingsd.stop() == 0
    st.mail("bob", subject="While down")
    offset = st.tidingsd.start()
    st.tidingsd.wait_log("IMAP scan failed", 10.0, since=offset)
    time.sleep(0.5 * SLOW)
    log = st.tidingsd.log(offset)
    lines = [ln for ln in log.splitlines() if "IMAP scan failed" in ln]
    assert len(lines) == 1, log
    assert "(tls)" in lines[0] and "certificate of 127.0.0.1" in lines[0] \
        and "not trusted" in lines[0], lines
    # Nothing was sent in clear, and no login happened at all.
    assert st.dovecot.login_lines("bob@example.org") == []
    assert [m.mail["subject"] for m in bob.messages if m.mail] == ["Live"]
