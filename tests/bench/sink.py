"""A minimal XMPP server for the component side only (stdlib, asyncio).

It accepts one jabber:component:accept stream, takes any handshake, answers
every XEP-0199 ping at once and counts <message> stanzas: the cheapest
possible peer, so that a benchmark of tidingsd against it measures tidingsd
and not an XMPP server. It checks nothing else and stores nothing. Used by
tests/bench/alone.py.
"""

import asyncio
import re
import time

PING_RE = re.compile(rb"<iq [^>]*?id=['\"]([^'\"]+)['\"][^>]*>"
                     rb"<ping xmlns=['\"]urn:xmpp:ping['\"]/></iq>")
KEEP = 512  # bytes kept between reads: longer than a ping


class Sink:
    def __init__(self, component, domain):
        self.component = component
        self.domain = domain
        self.messages = 0
        self.pings = 0
        self.connects = 0
        self.last_message_at = None
        self.server = None
        self.port = None
        self._changed = asyncio.Event()

    async def start(self, host="127.0.0.1"):
        self.server = await asyncio.start_server(self._serve, host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        self.server.close()
        await self.server.wait_closed()

    async def wait_messages(self, n, timeout):
        """Wait until n messages were counted; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.messages < n:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
            except asyncio.TimeoutError:
                pass
        return True

    async def _serve(self, reader, writer):
        buf = b""
        opened = False
        # The stream header (answered at once), then the handshake.
        while b"</handshake>" not in buf:
            data = await reader.read(65536)
            if not data:
                return
            buf += data
            if not opened and b"<stream:stream" in buf:
                opened = True
                writer.write(b"<?xml version='1.0'?><stream:stream "
                             b"xmlns='jabber:component:accept' "
                             b"xmlns:stream='http://etherx.jabber.org/"
                             b"streams' id='sink1' from='%s'>"
                             % self.component.encode())
        writer.write(b"<handshake/>")
        self.connects += 1
        buf = buf[buf.index(b"</handshake>") + len(b"</handshake>"):]
        while True:
            n = buf.count(b"<message ")
            if n:
                self.messages += n
                self.last_message_at = time.monotonic()
                self._changed.set()
            out = []
            for m in PING_RE.finditer(buf):
                self.pings += 1
                out.append(b"<iq type='result' id='%s' from='%s' to='%s'/>"
                           % (m.group(1), self.domain.encode(),
                              self.component.encode()))
            if out:
                writer.write(b"".join(out))
            # Keep a tail that may hold the start of a split stanza, but
            # never count a "<message " twice.
            cut = max(len(buf) - KEEP, 0)
            last_end = buf.rfind(b"</iq>")
            tail_from = max(cut, last_end + 5 if last_end >= 0 else 0)
            tail = buf[tail_from:]
            self.messages -= tail.count(b"<message ")
            buf = tail
            data = await reader.read(1 << 20)
            if not data:
                return
            buf += data
