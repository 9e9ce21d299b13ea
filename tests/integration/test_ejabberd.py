"""One account, one password, with a real ejabberd 23.01 (Debian).

ejabberd (ejabberd.py) runs with auth_method external and tidings-auth as
its extauth program on the stack's tidings.conf; Dovecot holds the
passwords. Slixmpp clients log in with their mailbox passwords; tidingsd
connects as ejabberd's component and notifies new mail. After each test
every tidings-auth that ejabberd started must have exited 0 with nothing
in the console from the sanitizers (Ejabberd.problems()).

The same login test runs against Prosody (authentication = "dovecot"), so
both server families stay covered side by side.
"""

import os
import pwd
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

import ejabberd as ejmod
from authusers import extra_users_conf
from tidingsd import SLOW

COLON_PW = "pa:ss:w\u00f6rd"


@pytest.fixture
def ej_stack(make_stack, tmpdir_short):
    """make(**Stack kw) -> a started Stack on ejabberd. Teardown stops it
    and fails on helpers that did not exit 0 or sanitizer reports."""
    if not ejmod.available():
        pytest.fail("ejabberd is not installed (tests/deps.sh installs it)")
    stacks = []

    def make(**kw):
        kw.setdefault("xmpp_server", "ejabberd")
        st = make_stack(**kw)
        stacks.append(st)
        return st

    yield make
    problems = []
    for st in stacks:
        st.stop()
        if st.ejabberd is not None:
            problems += st.ejabberd.problems()
            print("---- ejabberd console (%s) ----\n%s"
                  % (st.ejabberd.stdout_path,
                     st.ejabberd.console()[-4000:]))
    if problems:
        pytest.fail("; ".join(problems))


def colon_user_conf(tmpdir_short):
    """Dovecot config for carol@example.org, whose password holds ':' and
    a non-ASCII letter."""
    return extra_users_conf(os.path.join(tmpdir_short, "colon-users"),
                            {"carol@example.org": COLON_PW})


def login_fails(st, user, password):
    with pytest.raises(RuntimeError, match="authentication failed"):
        st.client(user, password=password)


@pytest.mark.parametrize("server", ["prosody", "ejabberd"])
def test_one_password(server, make_stack, tmpdir_short):
    """A mailbox's password logs its JID in, a wrong one does not, and a
    password with ':' and a non-ASCII letter works."""
    if server == "ejabberd" and not ejmod.available():
        pytest.fail("ejabberd is not installed")
    st = make_stack(start_tidings=False, xmpp_server=server,
                    users={"alice": "alice-pw", "bob": "bob-pw"},
                    dovecot_conf=colon_user_conf(tmpdir_short))
    try:
        assert st.client("bob").connected
        login_fails(st, "bob", "not-" + st.users["bob"])
        st.users["carol"] = COLON_PW
        assert st.client("carol").connected
        if server == "prosody":
            assert "Authenticated as bob@example.org" in st.prosody.log()
            assert "Authenticated as carol@example.org" in st.prosody.log()
            return
        # Prosody's mod_auth_dovecot sends no rip= and no no-penalty:
        # after a few failures Dovecot's shared penalty makes its logins
        # wait up to 15 s. tidings-auth asks for no penalty, so more
        # failures do not slow the next right password down.
        login_fails(st, "bob", st.users["alice"])
        login_fails(st, "nobody", "x")
        login_fails(st, "carol", "pa:ss")
        t0 = time.monotonic()
        assert st.client("bob", resource="after-failures").connected
        assert time.monotonic() - t0 < 3.0 * SLOW
        ej = st.ejabberd
        ej.wait_log("Accepted c2s PLAIN authentication for bob@example.org")
        ej.wait_log("Failed c2s PLAIN authentication for bob@example.org")
        assert ej.helper_starts() == 1  # extauth_pool_size 1
        ej.wait_console("tidings-auth: auth bob@example.org: refused")
    finally:
        st.stop()
        if server == "ejabberd":
            assert st.ejabberd.problems() == []


def register_iq(client, to, username, password, timeout=10.0):
    """Send a XEP-0077 password change; return (reply type, reply XML)."""
    from slixmpp.exceptions import IqError, IqTimeout
    from xmppclient import _run

    async def go():
        iq = client.xmpp.Iq()
        iq["type"] = "set"
        iq["to"] = to
        q = ET.Element("{jabber:iq:register}query")
        ET.SubElement(q, "{jabber:iq:register}username").text = username
        ET.SubElement(q, "{jabber:iq:register}password").text = password
        iq.append(q)
        try:
            r = await iq.send(timeout=timeout)
        except IqError as e:
            r = e.iq
        except IqTimeout:
            return "timeout", ""
        return r["type"], ET.tostring(r.xml, encoding="unicode")
    return _run(go(), timeout + 2)


def test_password_change_is_refused(ej_stack):
    """XEP-0077 password change: ejabberd asks tidings-auth (setpass),
    which refuses; the mailbox password stays the only one. ejabberd 23.01
    nevertheless answers the client with success (its extauth module
    treats any boolean answer to setpass as done; with auth_use_cache on
    it would even accept the new password from its cache): only logging
    in again tells the truth."""
    st = ej_stack(start_tidings=False,
                  ejabberd_kw={"extra_modules": {"mod_register": {}}})
    bob = st.client("bob")
    kind, xml = register_iq(bob, st.domain, "bob", "a-new-password")
    st.ejabberd.wait_console("setpass bob@example.org: refused")
    print("\nejabberd's answer to the password change: %s %s" % (kind, xml))
    assert kind == "result", xml  # what ejabberd 23.01 says (see above)
    login_fails(st, "bob", "a-new-password")
    again = st.client("bob", resource="again")
    assert again.connected
    # Unregistering (XEP-0077 remove): ejabberd 23.01 answers success
    # before it asks, asks (removeuser: refused), and then runs its
    # remove_user hook all the same: every session of bob is closed and
    # his server-side data (roster, offline messages) goes. The mailbox,
    # and so the account, stays: the same password logs in again. (Hence
    # the advice in examples/ejabberd/tidings.yml: no mod_register.)
    # (The success reply is routed just before the session is closed; it
    # seldom reaches the client.)
    kind, xml = register_iq_remove(again, st.domain, timeout=3.0)
    print("ejabberd's answer to the removal: %s %s" % (kind, xml))
    st.ejabberd.wait_console("removeuser bob@example.org: refused")
    st.ejabberd.wait_log("Closing c2s session for bob@example.org/again: "
                         "Stream closed by local host: User removed")
    assert st.client("bob", resource="third").connected


def register_iq_remove(client, to, timeout=10.0):
    from slixmpp.exceptions import IqError, IqTimeout
    from xmppclient import _run

    async def go():
        iq = client.xmpp.Iq()
        iq["type"] = "set"
        iq["to"] = to
        q = ET.Element("{jabber:iq:register}query")
        ET.SubElement(q, "{jabber:iq:register}remove")
        iq.append(q)
        try:
            r = await iq.send(timeout=timeout)
        except IqError as e:
            r = e.iq
        except IqTimeout:
            return "timeout", ""
        return r["type"], ET.tostring(r.xml, encoding="unicode")
    return _run(go(), timeout + 2)


def test_new_mail_notification(ej_stack):
    """tidingsd as ejabberd's component: a new mail reaches bob's
    client from the Mail contact."""
    st = ej_stack()
    bob = st.client("bob")
    st.mail("bob", subject="Through ejabberd")
    n = bob.wait_for_message(lambda n: n.mail is not None, 10.0 * SLOW)
    assert n is not None, "no notification:\n" + st.tidingsd.tail()
    assert n.frm == "mail.example.org"
    assert n.to.split("/")[0] == "bob@example.org"
    assert n.mail["subject"] == "Through ejabberd"
    assert n.mail["from"] == "alice@example.org"
    assert n.body.startswith("New mail from Alice Example "
                             "<alice@example.org>\nSubject: Through "
                             "ejabberd\n")


def test_privilege_advertisement_reaches_tidingsd(ej_stack):
    """mod_privilege tells the component what it may do, in
    urn:xmpp:privilege:1 (ejabberd 23.01), right after the handshake.
    Its trace shows the stanza as it arrived, and tidingsd says at info
    level what it was granted (test_presence_ejabberd.py tests what it
    then does with it)."""
    st = ej_stack(log={"level": "trace", "trace": "xmpp"})
    st.tidingsd.wait_log("urn:xmpp:privilege:1", 10.0)
    log = st.tidingsd.log()
    line = [x for x in log.splitlines() if "urn:xmpp:privilege:1" in x][0]
    for perm in ('access="roster" type="both"',
                 'access="message" type="outgoing"',
                 'access="presence" type="roster"'):
        assert perm in line.replace("'", '"'), line
    assert 'from="example.org"' in line.replace("'", '"'), line
    st.tidingsd.wait_log("example.org grants the component roster both, "
                         "message outgoing, presence roster "
                         "(urn:xmpp:privilege:1)", 10.0)


def test_offline_storage_asks_isuser(ej_stack):
    """Offline storage asks whether the recipient exists (isuser): a
    chat for a mailbox is kept until its owner logs in; one for a JID
    without a mailbox is bounced."""
    st = ej_stack(start_tidings=False)
    alice = st.client("alice")
    alice.send_message("bob@example.org", "are you there?")
    alice.send_message("ghost@example.org", "anyone?")
    err = alice.wait_for_message(
        lambda n: n.type == "error" and n.frm.startswith("ghost@"),
        10.0 * SLOW)
    assert err is not None, alice.messages
    bob = st.client("bob")
    m = bob.wait_for_message(lambda n: n.body == "are you there?",
                             10.0 * SLOW)
    assert m is not None and m.delayed, bob.messages
    assert m.frm.startswith("alice@example.org")


def test_master_password_file_and_the_ejabberd_user(ej_stack):
    """The deployment the README describes: the master password in
    [mail] master_password_file (0600, tidingsd's: root here), tidings.conf
    readable by the ejabberd user through its group, and tidings-auth
    running as that user, who cannot read the password file. tidingsd
    reads it (a mail delivered while it was down is found over IMAP, as
    the master user, once it is back); the helper never opens it: logins
    and isuser work, and nothing is logged about a master password."""
    try:
        ej_pw = pwd.getpwnam("ejabberd")
    except KeyError:
        pytest.fail("no ejabberd user (Debian's ejabberd package)")
    st = ej_stack(helper_user="ejabberd", master_password_file=True)
    pw_file = st.master_password_file
    info = os.stat(pw_file)
    assert (info.st_uid, info.st_mode & 0o777) == (0, 0o600)
    conf = st.tidingsd.config_path
    info = os.stat(conf)
    assert (info.st_gid, info.st_mode & 0o777) == (ej_pw.pw_gid, 0o640)
    with open(conf) as f:
        text = f.read()
    assert "master_password_file = %s\n" % pw_file in text
    assert st.master_password not in text
    # The helper's user cannot read the password file.
    cat = subprocess.run(
        ["setpriv", "--reuid=%d" % ej_pw.pw_uid,
         "--regid=%d" % ej_pw.pw_gid, "--clear-groups", "cat", pw_file],
        capture_output=True)
    assert cat.returncode != 0 and cat.stdout == b"", cat

    bob = st.client("bob")
    login_fails(st, "bob", "wrong")
    ej = st.ejabberd
    uids = ej.helper_uids()
    assert uids and set(uids.values()) == {(ej_pw.pw_uid, ej_pw.pw_uid)}, \
        uids
    # isuser: a chat for a JID without a mailbox bounces.
    bob.send_message("ghost@example.org", "anyone?")
    err = bob.wait_for_message(
        lambda n: n.type == "error" and n.frm.startswith("ghost@"),
        10.0 * SLOW)
    assert err is not None, bob.messages

    st.mail("bob", subject="Password from a file")
    n = bob.wait_for_message(lambda n: n.mail is not None, 10.0 * SLOW)
    assert n is not None, "no notification:\n" + st.tidingsd.tail()
    assert n.mail["subject"] == "Password from a file"
    # tidingsd logs in to IMAP as the master user with the file's password.
    assert st.tidingsd.stop() == 0
    st.mail("bob", subject="While tidingsd was down")
    st.tidingsd.start()
    n = bob.wait_for_message(
        lambda n: n.mail is not None and
        n.mail["subject"] == "While tidingsd was down", 20.0 * SLOW)
    assert n is not None, "not caught up:\n" + st.tidingsd.tail()
    assert "master_password" not in ej.console()


EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples", "ejabberd", "tidings.yml")


def example_yml(ej):
    """examples/ejabberd/tidings.yml with this test's values in place of
    the example's: the helper's command line, the component port and
    secret. Its domains (example.org, mail.example.org) are the stack's."""
    with open(EXAMPLE) as f:
        text = f.read()
    for old, new in (
            ('"/usr/local/sbin/tidings-auth -c /etc/tidings/tidings.conf"',
             ejmod.q(ej.extauth_program)),
            ("port: 5347", "port: %d" % ej.component_port),
            ('"change-me"', ejmod.q(ej.component_secret))):
        assert text.count(old) == 1, "the example no longer has %r" % old
        text = text.replace(old, new)
    return text


def test_example_snippet(ej_stack):
    """The snippet an admin adds (examples/ejabberd/tidings.yml), included
    from a minimal ejabberd.yml, in the deployment the README describes
    (the helper as the ejabberd user, Dovecot's listeners from part 4 of
    examples/dovecot/90-tidings.conf, the master password in
    master_password_file): tidingsd connects as the component and gets its
    privileges, users log in with their mailbox passwords, new mail is
    notified."""
    st = ej_stack(ejabberd_kw={"tidings_yml_text": example_yml},
                  log={"level": "trace", "trace": "xmpp"},
                  helper_user="ejabberd", master_password_file=True)
    ej = st.ejabberd
    assert open(ej.tidings_yml_path).read() == example_yml(ej)
    ej.wait_log("Accepted external component handshake authentication for "
                "mail.example.org")
    st.tidingsd.wait_log("urn:xmpp:privilege:1", 10.0)
    assert "Granting no permissions" not in ej.log()
    bob = st.client("bob")
    login_fails(st, "bob", "wrong")
    assert ej.helper_starts() == 4  # the example's extauth_pool_size
    st.mail("bob", subject="Configured by the example")
    n = bob.wait_for_message(lambda n: n.mail is not None, 10.0 * SLOW)
    assert n is not None, "no notification:\n" + st.tidingsd.tail()
    assert n.mail["subject"] == "Configured by the example"


def wait_dovecot_password(st, user, timeout=10.0):
    """Wait until Dovecot (reloaded) takes the user's new password."""
    import imaplib
    deadline = time.monotonic() + timeout * SLOW
    while True:
        try:
            st.dovecot.imap(user).logout()
            return
        except (imaplib.IMAP4.error, OSError):
            assert time.monotonic() < deadline, "Dovecot kept the old one"
            time.sleep(0.1)


@pytest.mark.parametrize("cache", [False, True])
def test_password_changed_in_the_mail_system(cache, ej_stack):
    """Why the snippet turns ejabberd's auth cache off. A password
    changed in Dovecot takes effect at once without the cache. With
    ejabberd 23.01's default cache, a user who logged in before keeps the
    old password (the cached one is compared, the helper is not asked)
    and cannot log in with the new one; and a refused XEP-0077 change is
    stored in the cache and accepted."""
    def yml(ej):
        text = ejmod.tidings_yml(ej.domains, ej.component_jid,
                                 ej.component_port, ej.component_secret,
                                 ej.extauth_program)
        return text.replace("auth_use_cache: false",
                            "auth_use_cache: %s" % str(cache).lower())
    st = ej_stack(start_tidings=False,
                  ejabberd_kw={"tidings_yml_text": yml,
                               "extra_modules": {"mod_register": {}}})
    old = st.users["bob"]
    bob = st.client("bob")
    logged_in = time.time()
    st.users["bob"] = st.dovecot.users["bob@example.org"] = "changed-pw"
    st.dovecot.reload()
    wait_dovecot_password(st, "bob@example.org")
    # The helper's connection stays with the auth process that answered
    # bob's login (a reload leaves it running), and Dovecot's passwd-file
    # driver looks at the file again at most once per second of its clock:
    # in the same second it would still hold the old password.
    while int(time.time()) == int(logged_in):
        time.sleep(0.05)
    if cache:
        assert st.client("bob", resource="stale", password=old).connected
        login_fails(st, "bob", "changed-pw")
    else:
        assert st.client("bob", resource="new").connected
        login_fails(st, "bob", old)
    register_iq(bob, st.domain, "bob", "via-xep-0077")
    st.ejabberd.wait_console("setpass bob@example.org: refused")
    if cache:
        assert st.client("bob", resource="x", password="via-xep-0077") \
            .connected
    else:
        login_fails(st, "bob", "via-xep-0077")
