"""Hostile stanzas from a local user cannot break tidingsd's component stream.

Real Dovecot, Prosody and tidingsd. bob sends to the component JID, as raw
XML (slixmpp would escape or reshape it): a message nested 70 deep, a
message of 250 KiB of '"' characters (Prosody re-escapes each as "&quot;"
when it forwards, so tidingsd reads about 1.5 MB) and an IQ get nested 70
deep, then an IQ get whose id is 200 KiB of '"' (an answer echoing it would
be 1.2 MB, over Prosody's 512 KiB component limit: Prosody would close the
stream, and the resent answer would close it again and again). Once with
the default limits (4M, depth 64) and once with `[xmpp] max_stanza_size =
64k`, where the quotes message is skipped too. Afterwards the component has
connected exactly once, bob is still online, the deep IQ got its
policy-violation error, the other none, and the next mail is notified
exactly once (nothing was resent).
"""

import re
import threading
import time

import pytest
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatcherId

from tidingsd import SLOW
from xmppclient import shared_loop

COMPONENT = "mail.example.org"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
# Prosody 0.12's c2s_stanza_size_limit default (mod_c2s.lua: 1024*256).
PROSODY_C2S_LIMIT = 256 * 1024
QUOTES = 250 * 1024


def nested(levels, inner="deep"):
    return "<x>" * levels + inner + "</x>" * levels


def deep_message(levels=70):
    return ("<message to='%s' id='deep-msg' type='chat'>%s</message>"
            % (COMPONENT, nested(levels)))


def quotes_message(n=QUOTES):
    return ("<message to='%s' id='quotes' type='chat'><body>%s</body>"
            "</message>" % (COMPONENT, '"' * n))


def long_id_iq(n=200 * 1024):
    return ("<iq to='%s' id='%s' type='get'><query xmlns='urn:x:t'/></iq>"
            % (COMPONENT, '"' * n))


def deep_iq(levels=70):
    return ("<iq to='%s' id='deep-iq' type='get'><query xmlns='urn:x:t'>%s"
            "</query></iq>" % (COMPONENT, nested(levels - 1)))


class IqCatcher:
    """Keeps the stanza answering the IQ with a given id."""

    def __init__(self, client, iq_id):
        self.reply = None
        self._event = threading.Event()
        client.xmpp.register_handler(
            Callback("catch-" + iq_id, MatcherId(iq_id), self._got))

    def _got(self, stanza):
        self.reply = stanza.xml
        self._event.set()

    def wait(self, timeout):
        self._event.wait(timeout)
        return self.reply


def send_raw(client, xml):
    shared_loop().call_soon_threadsafe(client.xmpp.send_raw, xml)


def drop_lines(st, since):
    return [ln for ln in st.tidingsd.log(since).splitlines()
            if "dropped an inbound" in ln]


def wait_drop_line(st, since, needle, timeout):
    st.tidingsd.wait_log(needle, timeout, since=since)
    lines = [ln for ln in drop_lines(st, since) if needle in ln]
    assert len(lines) == 1, lines
    return lines[0]


def forwarded_bytes(line):
    m = re.search(r" of (\d+) bytes from ", line)
    assert m, line
    return int(m.group(1))


@pytest.mark.slow
@pytest.mark.parametrize("max_stanza_size", [None, "64k"])
def test_hostile_stanzas_keep_the_stream_up(make_stack, max_stanza_size):
    st = make_stack(start_tidings=False)
    if max_stanza_size is not None:
        st.tidingsd.sections["xmpp"]["max_stanza_size"] = max_stanza_size
    st.tidingsd.start()
    bob = st.client("bob")
    since = st.tidingsd.log_size()
    sender = "from bob@example.org/test: "

    # (a) 70 deep: skipped with either limit. Drop warnings are limited
    # to one line a second, so the three are sent a little apart.
    xml = deep_message()
    print("\n(a) deep message: %d bytes sent" % len(xml))
    send_raw(bob, xml)
    line = wait_drop_line(st, since, sender + "too deeply nested",
                          5 * SLOW)
    assert "<message/>" in line
    print("(a) tidingsd read %d bytes" % forwarded_bytes(line))
    time.sleep(1.1)

    # (b) 250 KiB of '"' in the body, raw (under Prosody's c2s limit).
    xml = quotes_message()
    assert len(xml) < PROSODY_C2S_LIMIT
    print("(b) quotes message: %d bytes sent" % len(xml))
    send_raw(bob, xml)
    if max_stanza_size is not None:
        line = wait_drop_line(st, since, sender + "stanza too large",
                              10 * SLOW)
        size = forwarded_bytes(line)
        print("(b) tidingsd read %d bytes (skipped)" % size)
        assert size > 6 * QUOTES  # every '"' became "&quot;"
    time.sleep(1.1)

    # (c) An IQ get nested 70 deep: one policy-violation error.
    catcher = IqCatcher(bob, "deep-iq")
    xml = deep_iq()
    print("(c) deep IQ: %d bytes sent" % len(xml))
    send_raw(bob, xml)
    reply = catcher.wait(5 * SLOW)
    assert reply is not None, "no answer to the deep IQ"
    assert reply.get("type") == "error"
    assert reply.get("from") == COMPONENT
    err = reply.find("{jabber:client}error")
    assert err is not None and err.get("type") == "modify"
    assert err.find("{%s}policy-violation" % NS_STANZAS) is not None
    text = err.find("{%s}text" % NS_STANZAS)
    assert text is not None and text.text == "too deeply nested"
    line = wait_drop_line(st, since, "<iq/>", 5 * SLOW)
    assert sender + "too deeply nested" in line
    time.sleep(1.1)

    # (d) An IQ get with an id of 200 KiB of '"': no answer.
    xml = long_id_iq()
    assert len(xml) < PROSODY_C2S_LIMIT
    long_catcher = IqCatcher(bob, '"' * (200 * 1024))
    print("(d) long-id IQ: %d bytes sent" % len(xml))
    send_raw(bob, xml)
    if max_stanza_size is None:
        line = wait_drop_line(st, since, "too long to answer", 10 * SLOW)
        assert "<iq/> from bob@example.org/test" in line
    else:
        st.tidingsd.wait_log(sender + "stanza too large", 10 * SLOW,
                             since=since, count=2)
        lines = [ln for ln in drop_lines(st, since)
                 if "<iq/>" in ln and "stanza too large" in ln]
        assert len(lines) == 1, lines
        size = forwarded_bytes(lines[0])
        print("(d) tidingsd read %d bytes (skipped)" % size)
        assert size > 6 * 200 * 1024

    # No other drop: with the default limits the 1.5 MB message was
    # read whole (and ignored: it is not for the bridge).
    expected = 4 if max_stanza_size is not None else 3
    assert len(drop_lines(st, since)) == expected, drop_lines(st, since)

    # The stream stayed up and nothing was resent: the next mail is
    # notified exactly once.
    st.mail("bob", subject="After the hostile stanzas")
    n = bob.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert n is not None, "no notification after the hostile stanzas"
    assert n.mail["subject"] == "After the hostile stanzas"
    st.wait_quiet(bob, quiet=1.5)
    notices = [m for m in bob.messages if m.mail is not None]
    assert len(notices) == 1, notices
    assert long_catcher.reply is None
    assert bob.connected and bob.disconnects == 0
    assert st.tidingsd.count_log("xmpp: connected") == 1
    assert st.tidingsd.count_log("unparseable stream") == 0
    assert st.tidingsd.count_log("stream error") == 0
    assert st.tidingsd.running
