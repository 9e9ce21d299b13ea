"""A minimal asyncio XMPP c2s client for the benchmark (stdlib only).

Plain TCP without TLS (the test Prosody allows unencrypted PLAIN), SASL
PLAIN, stream restart, resource binding, a session if the server requires
one, initial presence. After that the client only counts incoming <message>
stanzas and timestamps them with time.perf_counter(), taken when the chunk
holding the stanza's end was read.

It is built to observe, not to be the bottleneck: one asyncio loop for all
clients, asyncio.Protocol with whole-chunk callbacks, bytes scanning with
bytes.find(), no XML parser and no per-stanza objects beyond one tuple when
a caller asks for records. The scan understands just enough of what tidings
sends (docs/protocol.md): a <message> holding
    <mail xmlns='urn:x-tidings:mail:0' ... uid='5'>...<subject>S</subject>
or
    <digest xmlns='urn:x-tidings:mail:0' count='N'><mail .../>...</digest>
or the summary sent when a user comes online (issue 6)
    <summary xmlns='urn:x-tidings:mail:0' unread='U' new='N'>...</summary>
Anything else inside a <message> counts as "other". Other stanzas
(presence, iq) are skipped unread, except that a client can count the
occurrences of one marker (bytes, e.g. an id it put into stanzas the server
reflects) anywhere in its stream: see RawClient.watch(). Subjects are returned as raw XML text
(bytes, entities not decoded): callers compare them against plain ASCII
tokens.

Usage from asyncio code:

    c = await RawClient.login(loop, host, port, "bob@example.org", "pw")
    c.on_message = my_cb      # my_cb(client, t, kind, uid, subject, count)
    c.send_presence(show="away", sid="x1")
    ...
    c.close()

login(..., presence=False) stops before the initial presence; the caller
sends it with send_presence(). The time the initial presence was written is
in `presence_t`. For a summary, on_message gets kind "summary", count = its
new attribute, and client.last_summary = (unread, new) is set first.

Every wait is bounded by a timeout; a failed login raises LoginError.
"""

import asyncio
import base64
import time

NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"

KIND_SINGLE = "single"
KIND_DIGEST = "digest"
KIND_SUMMARY = "summary"
KIND_OTHER = "other"


class LoginError(Exception):
    """The server refused or broke the login."""


def _attr(data, name, start, end):
    """The value (bytes) of attribute name in data[start:end], or None."""
    i = data.find(name, start, end)
    if i < 0:
        return None
    i += len(name)
    if i >= end:
        return None
    q = data[i:i + 1]
    if q not in (b"'", b'"'):
        return None
    j = data.find(q, i + 1, end)
    if j < 0:
        return None
    return data[i + 1:j]


def _text(data, tag_open, tag_close, start, end):
    """Text between tag_open and tag_close within data[start:end], or None."""
    i = data.find(tag_open, start, end)
    if i < 0:
        return None
    i += len(tag_open)
    j = data.find(tag_close, i, end)
    if j < 0:
        return None
    return data[i:j]


def summary_counts(data, s, e):
    """(unread, new) of the <summary> in data[s:e]; -1 where unreadable."""
    out = []
    i = data.find(b"<summary", s, e)
    gt = data.find(b">", i, e) if i >= 0 else -1
    for name in (b" unread=", b" new="):
        v = _attr(data, name, i, gt) if gt >= 0 else None
        try:
            out.append(int(v) if v is not None else -1)
        except ValueError:
            out.append(-1)
    return out[0], out[1]


def scan_message(data, s, e):
    """Classifies the stanza data[s:e] (one whole <message>).

    Returns (kind, uid, subject, count): uid as int or None, subject as raw
    bytes or None, count the number of mails the message speaks for (1 for a
    single notification, the digest's count attribute for a digest, the
    summary's new attribute for a summary, 0 for anything else).
    """
    m = data.find(b"<mail ", s, e)
    d = data.find(b"<digest", s, e)
    sm = data.find(b"<summary", s, e)
    if sm >= 0 and (m < 0 or sm < m) and (d < 0 or sm < d):
        return KIND_SUMMARY, None, None, summary_counts(data, s, e)[1]
    if d >= 0 and (m < 0 or d < m):
        gt = data.find(b">", d, e)
        count = _attr(data, b" count=", d, gt if gt >= 0 else e)
        try:
            n = int(count) if count is not None else 0
        except ValueError:
            n = 0
        return KIND_DIGEST, None, None, n
    if m < 0:
        return KIND_OTHER, None, None, 0
    gt = data.find(b">", m, e)
    uid = _attr(data, b" uid=", m, gt if gt >= 0 else e)
    try:
        uid = int(uid) if uid is not None else None
    except ValueError:
        uid = None
    subject = _text(data, b"<subject>", b"</subject>", m, e)
    return KIND_SINGLE, uid, subject, 1


class _Proto(asyncio.BufferedProtocol):
    """Reads into one preallocated buffer per connection.

    asyncio's plain Protocol allocates a fresh 256 KiB bytes object per
    read (an mmap/munmap pair), which costs more than the scan when stanzas
    trickle in one per read.
    """

    READ_BYTES = 65536

    def __init__(self, client):
        self.c = client
        self.buf = bytearray(self.READ_BYTES)
        self.view = memoryview(self.buf)

    def connection_made(self, transport):
        self.c._transport = transport

    def get_buffer(self, sizehint):
        return self.view

    def buffer_updated(self, nbytes):
        self.c._data(bytes(self.view[:nbytes]))

    def connection_lost(self, exc):
        self.c._lost(exc)


class RawClient:
    """One c2s connection. Create with RawClient.login()."""

    READ_LIMIT = 1 << 20  # login phase: refuse a server that never ends

    def __init__(self, loop, jid, password, domain):
        self.loop = loop
        self.jid = jid
        self.password = password
        self.domain = domain
        self.full_jid = None
        self._transport = None
        self._buf = b""  # login phase: everything unread
        self._rest = b""  # counting phase: an incomplete stanza tail
        self._waiter = None  # (marker tuple, future) during login
        self._counting = False
        self.closed = False
        self.close_reason = None
        # Counters for the benchmark.
        self.messages = 0  # every <message> stanza
        self.mails = 0  # mails covered: singles + digest counts
        self.singles = 0
        self.digests = 0
        self.summaries = 0
        self.last_summary = None  # (unread, new) of the last summary
        self.others = 0
        self.presence_t = None  # when the initial presence was written
        # watch(): occurrences of one marker anywhere in the stream.
        self._marker = None
        self._marker_tail = b""
        self.marker_count = 0
        self.on_marker = None  # fn(client, t, new_occurrences)
        self.bytes_in = 0
        self.last_t = 0.0
        # Callback per message: fn(client, t, kind, uid, subject, count).
        self.on_message = None

    # ----- login -----------------------------------------------------

    @classmethod
    async def login(cls, loop, host, port, jid, password, resource="bench",
                    timeout=15.0, presence=True):
        local, _, domain = jid.partition("@")
        if not local or not domain:
            raise LoginError("bad JID %r" % jid)
        c = cls(loop, jid, password, domain)
        try:
            await asyncio.wait_for(c._login(host, port, resource, presence),
                                   timeout)
        except asyncio.TimeoutError:
            c.close()
            raise LoginError("%s: login timed out" % jid) from None
        except (OSError, LoginError):
            c.close()
            raise
        return c

    def _send(self, s):
        if self._transport is not None and not self.closed:
            self._transport.write(s.encode() if isinstance(s, str) else s)

    def _open_stream(self):
        self._send("<?xml version='1.0'?><stream:stream to='%s' "
                   "xmlns='jabber:client' "
                   "xmlns:stream='http://etherx.jabber.org/streams' "
                   "version='1.0'>" % self.domain)

    async def _wait_for(self, *markers):
        """Waits until one of the byte markers is in the login buffer.

        Returns (marker, text up to and including it) and drops that text
        from the buffer.
        """
        while True:
            for mk in markers:
                i = self._buf.find(mk)
                if i >= 0:
                    cut = i + len(mk)
                    text, self._buf = self._buf[:cut], self._buf[cut:]
                    return mk, text
            if self.closed:
                raise LoginError("%s: connection closed during login (%s)"
                                 % (self.jid, self.close_reason))
            if len(self._buf) > self.READ_LIMIT:
                raise LoginError("%s: oversized login data" % self.jid)
            fut = self.loop.create_future()
            self._waiter = fut
            try:
                await fut
            finally:
                self._waiter = None

    async def _login(self, host, port, resource, presence=True):
        await self.loop.create_connection(lambda: _Proto(self), host, port)
        self._open_stream()
        _, feats = await self._wait_for(b"</stream:features>",
                                        b"</stream:error>")
        if b"<stream:error" in feats:
            raise LoginError("%s: stream error %r" % (self.jid, feats[-300:]))
        if b">PLAIN<" not in feats:
            raise LoginError("%s: server offers no SASL PLAIN" % self.jid)
        local = self.jid.split("@", 1)[0]
        token = base64.b64encode(("\0%s\0%s" % (local, self.password))
                                 .encode()).decode()
        self._send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                   % (NS_SASL, token))
        mk, text = await self._wait_for(b"<success", b"<failure")
        if mk == b"<failure":
            raise LoginError("%s: authentication failed" % self.jid)
        # The stream restarts after SASL: new header, new features.
        self._buf = b""
        self._open_stream()
        _, feats = await self._wait_for(b"</stream:features>",
                                        b"</stream:error>")
        if b"<stream:error" in feats:
            raise LoginError("%s: stream error after auth" % self.jid)
        self._send("<iq type='set' id='bind1'><bind xmlns='%s'><resource>%s"
                   "</resource></bind></iq>" % (NS_BIND, resource))
        _, text = await self._wait_for(b"</iq>")
        if b"'result'" not in text and b'"result"' not in text:
            raise LoginError("%s: bind failed" % self.jid)
        jid = _text(text, b"<jid>", b"</jid>", 0, len(text))
        self.full_jid = jid.decode() if jid else self.jid + "/" + resource
        # RFC 6121 made the session optional; ask only when not optional.
        si = feats.find(NS_SESSION.encode())
        if si >= 0 and b"<optional" not in feats[si:si + 200]:
            self._send("<iq type='set' id='sess1'><session xmlns='%s'/></iq>"
                       % NS_SESSION)
            _, text = await self._wait_for(b"</iq>", b"id='sess1'/>",
                                           b'id="sess1"/>')
            if b"error" in text:
                raise LoginError("%s: session failed" % self.jid)
        # From here on only message stanzas matter.
        self._counting = True
        rest, self._buf = self._buf, b""
        if presence:
            self.send_presence()
        if rest:
            self._scan(rest, time.perf_counter())

    # ----- sending -----------------------------------------------------

    SHOWS = (None, "away", "chat", "dnd", "xa")

    def send_presence(self, show=None, sid=None):
        """Sends an available presence, with <show/> unless show is None
        (one of SHOWS), and id=sid if given. The first one is the initial
        presence: its time is kept in presence_t."""
        if show not in self.SHOWS:
            raise ValueError("show: one of %r" % (self.SHOWS,))
        s = "<presence%s>%s</presence>" % (
            " id='%s'" % sid if sid is not None else "",
            "<show>%s</show>" % show if show is not None else "")
        if self.presence_t is None:
            self.presence_t = time.perf_counter()
        self._send(s)

    def send_raw(self, data):
        """Writes data (str or bytes) as it is."""
        self._send(data)

    def watch(self, marker):
        """Counts marker (bytes) wherever it occurs in what is read from
        now on, across chunk boundaries, in marker_count, and calls
        on_marker(client, t, n) for each chunk holding n > 0 of them.
        watch(None) stops counting."""
        if marker is not None and not marker:
            raise ValueError("empty marker")
        self._marker = marker
        self._marker_tail = b""

    def _watch_scan(self, data, t):
        mk = self._marker
        buf = self._marker_tail + data
        n = buf.count(mk)
        # A marker cannot lie wholly in the kept tail (one byte short).
        self._marker_tail = buf[-(len(mk) - 1):] if len(mk) > 1 else b""
        if n:
            self.marker_count += n
            cb = self.on_marker
            if cb is not None:
                cb(self, t, n)

    # ----- reading -----------------------------------------------------

    def _data(self, data):
        t = time.perf_counter()
        self.bytes_in += len(data)
        if self._counting:
            if self._marker is not None:
                self._watch_scan(data, t)
            self._scan(data, t)
            return
        self._buf += data
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _scan(self, data, t):
        if self._rest:
            data = self._rest + data
            self._rest = b""
        pos = 0
        n = len(data)
        while pos < n:
            s = data.find(b"<message", pos)
            if s < 0:
                # Keep a tail that may be the start of "<message".
                tail = data.rfind(b"<", max(pos, n - 8))
                if tail >= 0:
                    self._rest = data[tail:]
                if data.find(b"</stream:stream>", pos) >= 0:
                    self.closed = True
                    self.close_reason = "stream closed by server"
                break
            gt = data.find(b">", s)
            if gt < 0:
                self._rest = data[s:]
                break
            if data[gt - 1:gt] == b"/":  # <message .../>: nothing inside
                self._count(KIND_OTHER, None, None, 0, t)
                pos = gt + 1
                continue
            e = data.find(b"</message>", gt)
            if e < 0:
                self._rest = data[s:]
                break
            e += 10
            kind, uid, subject, count = scan_message(data, s, e)
            if kind == KIND_SUMMARY:
                self.last_summary = summary_counts(data, s, e)
            self._count(kind, uid, subject, count, t)
            pos = e

    def _count(self, kind, uid, subject, count, t):
        self.messages += 1
        self.mails += count
        self.last_t = t
        if kind == KIND_SINGLE:
            self.singles += 1
        elif kind == KIND_DIGEST:
            self.digests += 1
        elif kind == KIND_SUMMARY:
            self.summaries += 1
        else:
            self.others += 1
        cb = self.on_message
        if cb is not None:
            cb(self, t, kind, uid, subject, count)

    def _lost(self, exc):
        self.closed = True
        if self.close_reason is None:
            self.close_reason = str(exc) if exc else "connection closed"
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    # ----- closing -----------------------------------------------------

    def close(self):
        """Ends the stream and closes the socket (no waiting)."""
        if self._transport is not None and not self.closed:
            try:
                self._transport.write(b"</stream:stream>")
            except Exception:
                pass
        self.closed = True
        if self.close_reason is None:
            self.close_reason = "closed by us"
        if self._transport is not None:
            self._transport.close()


async def login_many(loop, host, port, accounts, concurrency=50,
                     timeout=30.0):
    """Logs in every (jid, password) pair, at most concurrency at once.

    Returns the clients in the order of accounts; raises LoginError for the
    first failure (after closing every client already logged in).
    """
    sem = asyncio.Semaphore(concurrency)

    async def one(jid, pw):
        async with sem:
            return await RawClient.login(loop, host, port, jid, pw,
                                         timeout=timeout)

    results = await asyncio.gather(*(one(j, p) for j, p in accounts),
                                   return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        for r in results:
            if isinstance(r, RawClient):
                r.close()
        raise errors[0] if isinstance(errors[0], LoginError) else \
            LoginError(repr(errors[0]))
    return results


def _selftest():
    """Checks the cheap scanner on canned stanzas (no server needed)."""
    single = (b"<message type='chat' to='bob@example.org/bench' "
              b"from='mail.example.org'><body>New mail from a\nSubject: t1"
              b"</body><mail xmlns='urn:x-tidings:mail:0' uid='42' "
              b"mailbox='INBOX' uidvalidity='7'><from>a@b</from>"
              b"<subject>tok-1</subject></mail></message>")
    digest = (b"<message from='mail.example.org'><body>3 new mails:</body>"
              b"<digest xmlns='urn:x-tidings:mail:0' count='3'><mail "
              b"uid='1'/><mail uid='2'/></digest></message>")
    other = b"<message from='x'><body>hi</body></message>"
    summary = (b"<message from='mail.example.org' type='chat'><body>3 unread "
               b"mails in INBOX; 2 arrived since you were last online:"
               b"</body><summary new='2' xmlns='urn:x-tidings:mail:0' "
               b"unread='3'><mail uid='4'><subject>s4</subject></mail>"
               b"<mail uid='5'/></summary></message>")
    echo = b"<presence id='bf7.1' from='bob@example.org/bench'/>"
    got = []
    c = RawClient(None, "bob@example.org", "pw", "example.org")
    c._counting = True
    c.on_message = lambda cl, t, k, u, s, n: got.append(
        (k, u, s, n, cl.last_summary if k == KIND_SUMMARY else None))
    c.watch(b"'bf7.")
    stream = b"<presence from='x'/>" + single + b"<iq id='1'/>" + digest + \
        echo + b"<message to='x'/>" + other + summary + echo
    # Feed in every split: the result must not depend on chunking.
    for step in (1, 7, 64, len(stream)):
        got.clear()
        c._rest = b""
        c.marker_count = 0
        for i in range(0, len(stream), step):
            c._data(stream[i:i + step])
        assert got == [("single", 42, b"tok-1", 1, None),
                       ("digest", None, None, 3, None),
                       ("other", None, None, 0, None),
                       ("other", None, None, 0, None),
                       ("summary", None, None, 2, (3, 2))], (step, got)
        assert c.marker_count == 2, (step, c.marker_count)
    assert c.summaries == 4, c.summaries
    c.watch(None)
    # Speed: how many stanzas per second this scanner parses.
    blob = single * 2000
    t = time.perf_counter()
    c.on_message = None
    c.messages = 0
    for i in range(0, len(blob), 65536):
        c._data(blob[i:i + 65536])
    dt = time.perf_counter() - t
    assert c.messages == 2000, c.messages
    print("rawxmpp selftest ok: scanner %.0f stanzas/s" % (2000 / dt))


if __name__ == "__main__":
    _selftest()
