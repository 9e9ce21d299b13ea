"""ms_authmaster and ms_evsock's owner check against a real Dovecot 2.3.

Dovecot (dovecot.py) gets an extra auth listener (`service auth {
unix_listener tidings-userdb { mode = 0600 user = root } }`, or a -master
one) and users with their own uids in the passwd-file. authmaster_probe
(built by meson from tests/unit/ms/, found under $TIDINGS_BUILD) looks
users up and prints JSON; in "owner" mode it opens an event socket with
trusted_users = owner and forks children that become given uids and send
one event each. Run as root: /usr/bin/python3 -m pytest -v FILE.
"""

import json
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dovecot import (Dovecot, make_mail, make_traversable,  # noqa: E402
                     mail_gid)

BUILD = os.environ.get("TIDINGS_BUILD", "/work/main/build")
PROBE = os.path.join(BUILD, "tests", "unit", "ms", "authmaster_probe")
ALICE = "alice@example.org"  # the mail uid (default_fields)
BOB = "bob@example.org"
CAROL = "carol@example.org"
GHOST = "ghost@example.org"
BOB_UID = 64010
CAROL_UID = 64011


def probe(*args, timeout=60):
    """Run authmaster_probe; return its parsed JSON."""
    if not os.path.exists(PROBE):
        pytest.fail("authmaster_probe not built: %s (set TIDINGS_BUILD)"
                    % PROBE)
    out = subprocess.run([PROBE] + [str(a) for a in args],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def workdir():
    if os.geteuid() != 0:
        pytest.skip("runs Dovecot as root and setuid() children")
    d = tempfile.mkdtemp(prefix="tdam-", dir="/tmp")
    yield d
    if not os.environ.get("TIDINGS_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


def start_dovecot(workdir, name, listener):
    dv = Dovecot(os.path.join(workdir, name),
                 {ALICE: "a-pw", BOB: "b-pw", CAROL: "c-pw"},
                 auth_master_listener=listener,
                 user_uids={BOB: BOB_UID, CAROL: CAROL_UID})
    dv.start()
    return dv


@pytest.fixture(scope="module")
def dv(workdir):
    dv = start_dovecot(workdir, "userdb", "tidings-userdb")
    yield dv
    dv.stop()


def by_user(results):
    return {r["user"]: r for r in results}


def test_listener_is_private(dv):
    st = os.stat(dv.auth_master_socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert st.st_mode & 0o777 == 0o600
    assert st.st_uid == 0


def test_lookup_found_notfound_and_cache(dv):
    out = probe("lookup", dv.auth_master_socket, ALICE, BOB, CAROL, GHOST)
    r = by_user(out["results"])
    assert r[ALICE]["status"] == "FOUND"
    assert r[ALICE]["uid"] == dv.mail_uid
    assert r[ALICE]["gid"] == mail_gid()
    assert r[BOB]["status"] == "FOUND"
    assert r[BOB]["uid"] == BOB_UID
    assert r[BOB]["gid"] == mail_gid()
    assert r[CAROL]["uid"] == CAROL_UID
    assert r[GHOST]["status"] == "NOTFOUND"
    assert r[GHOST]["uid"] is None
    assert all("cached" not in x for x in out["results"])
    # The second round is answered from the cache: no new lookup.
    again = by_user(out["again"])
    assert all(x.get("cached") for x in out["again"])
    assert again[BOB]["uid"] == BOB_UID
    assert again[GHOST]["status"] == "NOTFOUND"
    st = out["stats"]
    assert st["lookups"] == 4
    assert st["cache_hits"] == 4
    assert st["connects"] == 1
    assert st["protocol_errors"] == 0
    assert out["warnings"] == []
    # Dovecot saw well-formed requests with our service name.
    assert "BUG" not in dv.log()
    assert "Unknown command" not in dv.log()


def test_master_listener_works_too(workdir):
    dv = start_dovecot(workdir, "master", "tidings-master")
    try:
        out = probe("lookup", dv.auth_master_socket, BOB, GHOST)
        r = by_user(out["results"])
        assert r[BOB]["status"] == "FOUND" and r[BOB]["uid"] == BOB_UID
        assert r[GHOST]["status"] == "NOTFOUND"
    finally:
        dv.stop()


def test_auth_client_socket_is_recognised(dv):
    out = probe("lookup", dv.auth_client_socket, BOB)
    r = out["results"][0]
    assert r["status"] == "FAIL"
    assert "auth-client socket" in r["reason"]
    # FAIL is not cached: the second round asks (and fails) again.
    assert out["again"][0]["status"] == "FAIL"
    assert out["stats"]["protocol_errors"] == 2
    assert out["stats"]["cache_hits"] == 0


def test_missing_socket_fails_fast(dv):
    out = probe("lookup", dv.auth_master_socket + ".nope", BOB)
    r = out["results"][0]
    assert r["status"] == "FAIL"
    assert "no such file" in r["reason"]
    assert out["stats"]["timeouts"] == 0


def event_socket(workdir, name):
    d = os.path.join(workdir, "ev-" + name)
    os.makedirs(d, exist_ok=True)
    make_traversable(d)
    return os.path.join(d, "events.sock")


def test_owner_accepted_other_uid_refused(dv, workdir):
    sock = event_socket(workdir, "owner")
    # Children: 1 = bob's own uid, 2 = carol's uid, 3 = root.
    out = probe("owner", dv.auth_master_socket, sock, BOB,
                BOB_UID, CAROL_UID, 0)
    assert sorted(out["accepted"]) == [1, 3]
    ev = out["evsock"]
    assert ev["received"] == 3
    assert ev["events"] == 2
    assert ev["refused"] == 1
    assert ev["unverified"] == 0
    carol_pid = out["pids"][1]
    want = ("warn: events: refused an event from uid %d (pid %d): not the "
            "owner of %s per Dovecot's userdb" % (CAROL_UID, carol_pid, BOB))
    assert want in out["warnings"], out["warnings"]
    assert len(out["warnings"]) == 1
    # One lookup for bob; root's event needed none.
    assert out["stats"]["lookups"] == 1


def test_owner_unknown_user_refused(dv, workdir):
    sock = event_socket(workdir, "ghost")
    out = probe("owner", dv.auth_master_socket, sock, GHOST, BOB_UID)
    assert out["accepted"] == []
    assert out["evsock"]["refused"] == 1
    assert any("not the owner of %s per Dovecot's userdb (no such user)"
               % GHOST in w for w in out["warnings"]), out["warnings"]


def test_owner_with_dovecot_gone(workdir):
    dv = start_dovecot(workdir, "gone", "tidings-userdb")
    path = dv.auth_master_socket
    dv.stop()
    sock = event_socket(workdir, "gone")
    out = probe("owner", path, sock, BOB, BOB_UID)
    # No answer is no permission.
    assert out["accepted"] == []
    assert out["evsock"]["unverified"] == 1
    assert out["evsock"]["refused"] == 0


def test_dovecot_writers_as_the_kernel_reports_them(workdir):
    """What [events] trusted_users sees of Dovecot's own writers.

    SCM_CREDENTIALS carries the writer's real uid. LMTP keeps real uid 0
    and only switches its effective uid while delivering, so its events
    come from root; IMAP processes run as the mailbox's uid.
    """
    d = os.path.join(workdir, "creds")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "events.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    s.bind(path)
    os.chown(path, -1, mail_gid())
    os.chmod(path, 0o660)
    dv = Dovecot(d, {ALICE: "a-pw"}, push_socket=path)
    dv.start()
    seen = {}
    try:
        dv.deliver(ALICE, make_mail("x@example.net", ALICE, "lmtp"))
        im = dv.imap(ALICE)
        im.append("INBOX", None, None,
                  make_mail("x@example.net", ALICE, "imap"))
        im.logout()
        s.settimeout(5)
        while len(seen) < 2:
            data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(12))
            creds = [struct.unpack("iII", c[2]) for c in anc
                     if c[:2] == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)]
            assert len(creds) == 1
            seen[json.loads(data)["event"]] = creds[0]
    finally:
        dv.stop()
        s.close()
    assert seen["MessageNew"][1] == 0  # LMTP: root
    assert seen["MessageAppend"][1] == dv.mail_uid  # IMAP: the mail uid
