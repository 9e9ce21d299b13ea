"""A nudge from the sender's own bare JID (issue 8), through XEP-0356
message permission, against real Prosody 0.12 with mod_privilege granting
message = "outgoing" (prosody.py's privileged_entities).

tidingsd is not started: a raw XEP-0114 component connection (below)
takes its place and sends what tests/unit/component/privmsg_probe prints:
br_nudge_text_nudge() from alice@example.org to bob@example.org, wrapped
by xm_privilege_message_new(). What Prosody does with it (mod_privilege
posts the inner message as if alice's client had sent it, from a session
without a resource):
- bob receives it from alice's bare JID, type chat, with the <nudge/>;
- alice's resources that enabled carbons (XEP-0280) get a <sent/> carbon
  of it; the others get nothing;
- it is in alice's archive (XEP-0313) as sent to bob, and in bob's;
- bob, offline, gets it from offline storage when he logs in.
"""

import hashlib
import os
import re
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import tidingsd as td
from tidingsd import SLOW

NS_MAIL = "urn:x-tidings:mail:0"
NS_CARBONS = "urn:xmpp:carbons:2"
NS_FORWARD = "urn:xmpp:forward:0"
NS_MAM = "urn:xmpp:mam:2"


def probe_binary():
    return os.path.join(td.build_dir(), "tests", "unit", "component",
                        "privmsg_probe")


def wrapped_nudge(version, frm, to, subject, message_id, sent):
    out = subprocess.run(
        [probe_binary(), str(version), frm, to, subject, message_id,
         str(int(sent))],
        check=True, capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


class RawComponent:
    """A XEP-0114 component connection (jabber:component:accept) that
    keeps everything the server sends as text."""

    def __init__(self, host, port, component, secret, timeout=10.0):
        self.component = component
        self.sock = socket.create_connection((host, port), timeout)
        self.data = ""
        self._cond = threading.Condition()
        self._closed = False
        self.sock.sendall((
            "<?xml version='1.0'?><stream:stream "
            "xmlns='jabber:component:accept' "
            "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>"
            % component).encode())
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        header = self.wait_for(r"<stream:stream[^>]*>", timeout)
        assert header is not None, "no stream header: %r" % self.data
        sid = re.search(r"""\bid=['"]([^'"]+)['"]""", header.group(0))
        assert sid is not None, header.group(0)
        digest = hashlib.sha1((sid.group(1) + secret).encode()).hexdigest()
        self.sock.sendall(("<handshake>%s</handshake>" % digest).encode())
        assert self.wait_for(r"<handshake\s*/>|<handshake></handshake>",
                             timeout) is not None, \
            "handshake refused: %r" % self.data

    def _read(self):
        while True:
            try:
                b = self.sock.recv(65536)
            except OSError:
                b = b""
            with self._cond:
                if not b:
                    self._closed = True
                    self._cond.notify_all()
                    return
                self.data += b.decode("utf-8", "replace")
                self._cond.notify_all()

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout * SLOW
        with self._cond:
            while True:
                m = re.search(pattern, self.data)
                left = deadline - time.monotonic()
                if m or left <= 0 or self._closed:
                    return m
                self._cond.wait(left)

    def send(self, xml):
        self.sock.sendall(xml.encode())

    def close(self):
        try:
            self.sock.sendall(b"</stream:stream>")
        except OSError:
            pass
        self.sock.close()


def connect_component(st):
    c = RawComponent("127.0.0.1", st.prosody.component_port, st.component,
                     st.secret)
    # Prosody's advertisement for example.org, granting message=outgoing
    # (its attributes come in any order).
    assert c.wait_for(r"<privilege xmlns=['\"]urn:xmpp:privilege:2['\"]"
                      r"[\s\S]*?<perm (?=[^>]*access=['\"]message['\"])"
                      r"(?=[^>]*type=['\"]outgoing['\"])", 10.0) \
        is not None, c.data
    return c


def nudge_element(n):
    x = ET.fromstring(n.xml)
    return x.find("{%s}nudge" % NS_MAIL)


def carbon_of(n):
    """The forwarded message of a <sent/> carbon, or None."""
    x = ET.fromstring(n.xml)
    sent = x.find("{%s}sent" % NS_CARBONS)
    if sent is None:
        return None
    return sent.find("{%s}forwarded/{jabber:client}message" % NS_FORWARD)


def test_nudge_from_bare_jid_and_carbons(make_stack):
    st = make_stack(start_tidings=False)
    bob = st.client("bob")
    desk = st.client("alice", resource="desk")
    phone = st.client("alice", resource="phone")
    r = desk.iq(st.jid("alice"), "<enable xmlns='%s'/>" % NS_CARBONS, "set")
    assert r.type == "result", r
    comp = connect_component(st)
    try:
        sent = time.time() - 60
        xml = wrapped_nudge(2, "alice@example.org", "bob@example.org",
                            "Q3 figures", "<q3@example.org>", sent)
        assert "<privilege xmlns=\"urn:xmpp:privilege:2\">" in xml
        comp.send(xml)

        got = bob.wait_for_message(lambda n: n.body is not None
                                   and "check your mail" in n.body,
                                   timeout=10.0 * SLOW)
        assert got is not None, bob.messages
        # From alice's bare JID, exactly as the wrapped message said.
        assert got.frm == "alice@example.org"
        assert got.to.split("/")[0] == "bob@example.org"
        assert got.type == "chat"
        assert got.body.startswith(
            "alice@example.org asks you to check your mail: 'Q3 "
            "figures', sent at ")
        e = nudge_element(got)
        assert e is not None, got.xml
        assert e.findtext("{%s}sender" % NS_MAIL) == "alice@example.org"
        assert e.findtext("{%s}message-id" % NS_MAIL) == "<q3@example.org>"
        assert e.findtext("{%s}subject" % NS_MAIL) == "Q3 figures"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                            e.get("sent") or "")

        # alice's resource with carbons on gets a <sent/> carbon of it.
        c = desk.wait_for_message(lambda n: carbon_of(n) is not None,
                                  timeout=5.0 * SLOW)
        assert c is not None, desk.messages
        assert c.frm == "alice@example.org"
        inner = carbon_of(c)
        assert inner.get("from") == "alice@example.org"
        assert inner.get("to") == "bob@example.org"
        assert inner.find("{%s}nudge" % NS_MAIL) is not None
        # The one without carbons gets nothing of it (waited for: the
        # carbon to desk and the message to bob went out together).
        st.wait_quiet(phone, quiet=1.0, timeout=5.0)
        assert [n for n in phone.messages
                if "check your mail" in n.xml] == [], phone.messages
        # No error came back to the component.
        assert "type='error'" not in comp.data and \
            'type="error"' not in comp.data, comp.data

        # Both archives (XEP-0313) hold it: it is part of alice's own
        # conversation with bob, on every client, later too.
        for client, user in ((phone, "alice"), (bob, "bob")):
            r = client.iq(st.jid(user), "<query xmlns='%s'/>" % NS_MAM,
                          "set")
            assert r.type == "result", r
            got = client.wait_for_message(
                lambda n: NS_MAM in n.xml and "check your mail" in n.xml,
                timeout=5.0 * SLOW)
            assert got is not None, (user, client.messages)
            fwd = ET.fromstring(got.xml).find(
                "{%s}result/{%s}forwarded/{jabber:client}message"
                % (NS_MAM, NS_FORWARD))
            assert fwd is not None, got.xml
            assert fwd.get("from") == "alice@example.org"
            assert fwd.get("to") == "bob@example.org"
    finally:
        comp.close()


def test_nudge_to_offline_recipient_waits_in_offline_storage(make_stack):
    st = make_stack(start_tidings=False)
    comp = connect_component(st)
    try:
        comp.send(wrapped_nudge(2, "alice@example.org", "bob@example.org",
                                "Q3 figures", "<q3@example.org>",
                                time.time() - 60))
        # Nothing to wait for on the server side but its answer, if any:
        # a round trip (a ping to the domain) orders it after the nudge.
        comp.send("<iq type='get' id='p1' from='%s' to='example.org'>"
                  "<ping xmlns='urn:xmpp:ping'/></iq>" % st.component)
        assert comp.wait_for(r"id=['\"]p1['\"]", 10.0) is not None
        bob = st.client("bob")
        got = bob.wait_for_message(lambda n: n.body is not None
                                   and "check your mail" in n.body,
                                   timeout=10.0 * SLOW)
        assert got is not None, bob.messages
        assert got.frm == "alice@example.org"
        assert got.delayed
        assert nudge_element(got) is not None
        assert "type='error'" not in comp.data and \
            'type="error"' not in comp.data, comp.data
    finally:
        comp.close()
