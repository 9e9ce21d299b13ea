"""A synchronous-looking XMPP client for the tests, on top of slixmpp.

All clients share one asyncio loop that runs in a daemon thread, so a test
(or the benchmark) can hold dozens of clients at once and call them from the
main thread: connect() returns once the session is up, wait_for_message()
blocks until a matching message has arrived.

Every received message is kept in `Client.messages` as a Notice, with the
tidings <mail/> or <digest/> payload already parsed.

By default a client logs in over plain TCP (the test Prosody allows it).
With tls=True it insists on STARTTLS like a real client: it verifies the
server's certificate against `ca_file` (the test Prosody's private CA) for
the JID's domain, and sends no credentials before TLS is up.
"""

import asyncio
import atexit
import pathlib
import secrets
import ssl
import threading
import time
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from xmppextras import ExtrasMixin

NS_MAIL = "urn:x-tidings:mail:0"
NS_DELAY = "urn:xmpp:delay"
NS_COMMANDS = "http://jabber.org/protocol/commands"
NS_DATA = "jabber:x:data"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"

_loop = None
_loop_lock = threading.Lock()


def shared_loop():
    """Return the asyncio loop all clients run on, starting it once."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            t = threading.Thread(target=loop.run_forever,
                                 name="xmppclient-loop", daemon=True)
            t.start()
            _loop = loop
        return _loop


def _shutdown():
    """At exit: cancel what is still pending on the shared loop and stop
    it, so that the interpreter does not warn about destroyed tasks."""
    loop = _loop
    if loop is None or not loop.is_running():
        return

    async def cancel_all():
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    try:
        asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(2)
    except Exception:
        pass
    loop.call_soon_threadsafe(loop.stop)


atexit.register(_shutdown)


def _run(coro, timeout):
    """Run a coroutine on the shared loop and wait for its result."""
    fut = asyncio.run_coroutine_threadsafe(coro, shared_loop())
    return fut.result(timeout)


def parse_mail(el):
    """Turn a tidings <mail/> element into a dict.

    Keys: mailbox, uidvalidity, uid (ints where numeric), from, from_name,
    from_jid (the jid= attribute of <from/>, where to answer: only when
    present), subject,
    message_id, date, plus any other attribute as a string.
    """
    d = dict(el.attrib)
    for k in ("uid", "uidvalidity"):
        if k in d:
            try:
                d[k] = int(d[k])
            except ValueError:
                pass
    f = el.find("{%s}from" % NS_MAIL)
    d["from"] = f.text if f is not None else None
    d["from_name"] = f.get("name") if f is not None else None
    if f is not None and f.get("jid") is not None:
        d["from_jid"] = f.get("jid")
    for tag, key in (("subject", "subject"), ("message-id", "message_id"),
                     ("date", "date"), ("snippet", "snippet")):
        c = el.find("{%s}%s" % (NS_MAIL, tag))
        d[key] = (c.text or "") if c is not None else None
    return d


class Notice:
    """One received message stanza, parsed.

    Attributes: frm, to, type, id (the stanza's id attribute or None),
    body (str or None), mail (dict or None),
    digest (dict with count and mails, or None), summary (dict with unread,
    new and mails, or None), delayed (True when it
    carries a XEP-0203 delay, i.e. came from offline storage), sent
    (a mail from chat accepted: dict with to [addresses], subject,
    message_id; or None), not_sent (not sent: dict with reason; or None),
    xml (str), received (time.monotonic() at arrival), wall (time.time()).
    """

    def __init__(self, stanza):
        self.received = time.monotonic()
        self.wall = time.time()
        x = stanza.xml
        self.frm = x.get("from", "")
        self.to = x.get("to", "")
        self.type = x.get("type", "normal")
        self.id = x.get("id")
        b = x.find("{jabber:client}body")
        self.body = (b.text or "") if b is not None else None
        m = x.find("{%s}mail" % NS_MAIL)
        self.mail = parse_mail(m) if m is not None else None
        g = x.find("{%s}digest" % NS_MAIL)
        if g is not None:
            count = g.get("count")
            try:
                count = int(count)
            except (TypeError, ValueError):
                pass
            self.digest = {
                "count": count,
                "mails": [parse_mail(c)
                          for c in g.findall("{%s}mail" % NS_MAIL)],
            }
        else:
            self.digest = None
        s = x.find("{%s}summary" % NS_MAIL)
        if s is not None:
            self.summary = {
                "unread": int(s.get("unread", "0")),
                "new": int(s.get("new", "0")),
                "mails": [parse_mail(c)
                          for c in s.findall("{%s}mail" % NS_MAIL)],
            }
        else:
            self.summary = None
        self.delayed = x.find("{%s}delay" % NS_DELAY) is not None
        sent = x.find("{%s}sent" % NS_MAIL)
        self.sent = None
        if sent is not None:
            self.sent = {
                "to": [t.text or "" for t in sent.findall("{%s}to"
                                                           % NS_MAIL)],
                "subject": sent.findtext("{%s}subject" % NS_MAIL),
                "message_id": sent.findtext("{%s}message-id" % NS_MAIL),
            }
        ns = x.find("{%s}not-sent" % NS_MAIL)
        self.not_sent = dict(ns.attrib) if ns is not None else None
        self.xml = ET.tostring(x, encoding="unicode")

    def uids(self):
        """The (mailbox, uidvalidity, uid) triples this message covers."""
        if self.mail is not None:
            return [(self.mail.get("mailbox"), self.mail.get("uidvalidity"),
                     self.mail.get("uid"))]
        for group in (self.digest, self.summary):
            if group is not None:
                return [(m.get("mailbox"), m.get("uidvalidity"),
                         m.get("uid")) for m in group["mails"]]
        return []

    def __repr__(self):
        return "<Notice from=%r type=%r body=%r mail=%r digest=%r " \
            "summary=%r sent=%r not_sent=%r>" % (
                self.frm, self.type, self.body, self.mail, self.digest,
                self.summary, self.sent, self.not_sent)


class IqReply:
    """The answer to an IQ: type ("result" or "error"), the error's
    condition and text (None for a result), and the element (xml)."""

    def __init__(self, xml):
        self.xml = xml
        self.type = xml.get("type")
        self.condition = None
        self.error_text = None
        err = xml.find("{jabber:client}error")
        if err is not None:
            for c in err:
                if c.tag == "{%s}text" % NS_STANZAS:
                    self.error_text = c.text
                elif c.tag.startswith("{%s}" % NS_STANZAS) and \
                        self.condition is None:
                    self.condition = c.tag.split("}", 1)[1]
        self.text = ET.tostring(xml, encoding="unicode")


class CommandReply(IqReply):
    """The answer to a XEP-0050 command: also status, sessionid, notes
    [(type, text)], actions (names, default first when given), form_type
    and fields {var: {"type", "label", "values", "options"}} of its data
    form (empty without one)."""

    def __init__(self, xml):
        super().__init__(xml)
        cmd = xml.find("{%s}command" % NS_COMMANDS)
        self.command = cmd
        self.status = cmd.get("status") if cmd is not None else None
        self.sessionid = cmd.get("sessionid") if cmd is not None else None
        self.notes = [(n.get("type", "info"), n.text or "")
                      for n in (cmd.findall("{%s}note" % NS_COMMANDS)
                                if cmd is not None else [])]
        self.actions = []
        a = cmd.find("{%s}actions" % NS_COMMANDS) if cmd is not None \
            else None
        if a is not None:
            if a.get("execute"):
                self.actions.append(a.get("execute"))
            self.actions += [c.tag.split("}", 1)[1] for c in a
                             if c.tag.split("}", 1)[1] not in self.actions]
        x = cmd.find("{%s}x" % NS_DATA) if cmd is not None else None
        self.form_type = x.get("type") if x is not None else None
        self.fields = {}
        for f in (x.findall("{%s}field" % NS_DATA) if x is not None
                  else []):
            self.fields[f.get("var")] = {
                "type": f.get("type"),
                "label": f.get("label"),
                "values": [v.text or "" for v in
                           f.findall("{%s}value" % NS_DATA)],
                "options": [(o.get("label"),
                             o.findtext("{%s}value" % NS_DATA))
                            for o in f.findall("{%s}option" % NS_DATA)],
            }

    def value(self, var):
        """The first value of field var, or None."""
        f = self.fields.get(var)
        return f["values"][0] if f and f["values"] else None


class _ClientXMPP(slixmpp.ClientXMPP):
    """slixmpp's client, checking the server certificate for the JID's
    domain (RFC 6120, 13.7.2.1). slixmpp 1.8.3 passes its `default_domain`
    as the TLS server name, and that stays empty when the address to
    connect to is an IP; setting it before connecting is no fix, because
    slixmpp would then resolve that name instead of using the address."""

    async def start_tls(self):
        saved = self.default_domain
        self.default_domain = self.boundjid.domain
        try:
            return await super().start_tls()
        finally:
            self.default_domain = saved


# SASL mechanisms slixmpp may use before TLS unless told otherwise.
_UNENCRYPTED_MECHS = ("unencrypted_plain", "unencrypted_scram",
                      "unencrypted_digest", "unencrypted_cram")


class Client(ExtrasMixin):
    """One XMPP client session (plain TCP allowed unless tls; tests only).
    The helpers for mail from chat (XEP-0461 replies, commands with a
    form, jabber:iq:gateway, disco#info, wait_from) are in
    xmppextras.ExtrasMixin."""

    def __init__(self, name=None, ignore_from=()):
        """`ignore_from`: bare JIDs whose body-less messages are kept in
        `ignored` instead of `messages` (Prosody 0.12's mod_privilege sends
        every user an empty <privilege/> message from the server's domain
        when they log in)."""
        self.name = name
        self.ignore_from = set(ignore_from)
        self.ignored = []
        self.jid = None
        self.xmpp = None
        self.tls_version = None   # e.g. "TLSv1.3" once logged in over TLS
        self.messages = []
        self.presences = []
        self.disconnects = 0
        self._closing = False
        self._cond = threading.Condition()

    # -- lifecycle ---------------------------------------------------------

    def connect(self, jid, password, host, port, timeout=10.0,
                presence=True, tls=False, ca_file=None):
        """Log in and (by default) send initial presence.

        tls=False: plain TCP, STARTTLS not even tried. tls=True: STARTTLS
        is required, the server certificate must chain to `ca_file` (a PEM
        file; None = the system's trust store) and name the JID's domain,
        and no credentials are sent before TLS is up.

        Raises RuntimeError when TLS, the certificate or authentication
        fails, or the session is not up within `timeout` seconds.
        """
        self.jid = jid
        self._closing = False
        _run(self._connect(jid, password, host, port, presence, timeout,
                           tls, ca_file),
             timeout + 2)
        return self

    async def _connect(self, jid, password, host, port, presence, timeout,
                       tls=False, ca_file=None):
        loop = asyncio.get_running_loop()
        x = _ClientXMPP(jid, password)
        x.loop = loop
        mechs = x.plugin["feature_mechanisms"].config
        if tls:
            for k in _UNENCRYPTED_MECHS:
                mechs[k] = False
            if ca_file is not None:
                if not pathlib.Path(ca_file).is_file():
                    raise RuntimeError("%s: no CA file %s" % (jid, ca_file))
                # Trust ca_file alone: slixmpp's own context starts with
                # the system's trust store, and its ca_certs only adds to
                # whatever context it is given.
                x.ssl_context = ssl.create_default_context(
                    cafile=str(ca_file))
                x.ca_certs = pathlib.Path(ca_file)
        else:
            mechs["unencrypted_plain"] = True
        x.register_plugin("xep_0030")
        x.register_plugin("xep_0199")
        done = loop.create_future()

        def ok(_event):
            if done.done():
                return
            ssl_object = None
            if x.transport is not None:
                ssl_object = x.transport.get_extra_info("ssl_object")
            if tls and ssl_object is None:
                done.set_exception(RuntimeError(
                    "%s: session is not encrypted" % jid))
                return
            self.tls_version = ssl_object.version() if ssl_object else None
            done.set_result(True)

        def bad_certificate(err):
            if not done.done():
                done.set_exception(RuntimeError(
                    "%s: server certificate not accepted: %s" % (jid, err)))

        def fail(what):
            def cb(_event):
                if not done.done():
                    done.set_exception(RuntimeError(
                        "%s: %s" % (jid, what)))
            return cb

        def on_disconnected(_event):
            if not done.done():
                done.set_exception(RuntimeError(
                    "%s: disconnected during login" % jid))
            if not self._closing:
                with self._cond:
                    self.disconnects += 1
                    self._cond.notify_all()

        x.add_event_handler("session_start", ok)
        x.add_event_handler("failed_auth", fail("authentication failed"))
        x.add_event_handler("connection_failed", fail("connection failed"))
        x.add_event_handler("failed_all_auth",
                            fail("no usable authentication mechanism"
                                 + (" (no STARTTLS?)" if tls else "")))
        x.add_event_handler("ssl_invalid_chain", bad_certificate)

        def negotiated(_event):
            # All stream features handled and still not authenticated:
            # the server offered no mechanism (Prosody offers none before
            # STARTTLS when it requires encryption). Fail now rather than
            # wait for the timeout.
            if "mechanisms" not in x.features and not done.done():
                done.set_exception(RuntimeError(
                    "%s: the server offered no way to log in%s" % (
                        jid, "" if tls else
                        " over plain TCP (does it require STARTTLS?)")))
        x.add_event_handler("stream_negotiated", negotiated)
        x.add_event_handler("disconnected", on_disconnected)
        x.register_handler(Callback("tidings-all-messages",
                                    StanzaPath("message"), self._on_message))
        x.register_handler(Callback("tidings-all-presence",
                                    StanzaPath("presence"),
                                    self._on_presence))
        self.xmpp = x
        # slixmpp 1.8.3 ignores force_starttls; `ok` and the mechanism
        # settings above are what enforce TLS.
        x.connect((host, port), disable_starttls=not tls,
                  force_starttls=tls)
        try:
            await asyncio.wait_for(done, timeout)
        except asyncio.TimeoutError:
            self._closing = True
            x.abort()
            self.xmpp = None
            raise RuntimeError("%s: no session after %.1f s" % (jid, timeout))
        except RuntimeError:
            self._closing = True
            x.abort()
            self.xmpp = None
            raise
        if presence:
            x.send_presence()

    def send_presence(self, ptype=None, status=None, show=None):
        """Send presence (ptype None = available, or 'unavailable'; show
        'away', 'xa', 'dnd' or 'chat')."""
        def go():
            kw = {}
            if ptype:
                kw["ptype"] = ptype
            if status:
                kw["pstatus"] = status
            if show:
                kw["pshow"] = show
            self.xmpp.send_presence(**kw)
        shared_loop().call_soon_threadsafe(go)

    def send_message(self, to, body, mtype="chat"):
        shared_loop().call_soon_threadsafe(
            lambda: self.xmpp.send_message(mto=to, mbody=body, mtype=mtype))

    def send_stanza(self, to, body=None, mtype="chat", children=(),
                    msg_id=None):
        """Send a <message/> to `to` (written into the stanza as given,
        e.g. an XEP-0106 escaped JID, no JID parsing on the way) of type
        `mtype` (None: no type attribute), with `body` (None: no <body/>)
        and `children` (XML texts or ElementTree elements) after it.
        Returns the stanza's id (`msg_id`, or a fresh one)."""
        els = [ET.fromstring(c) if isinstance(c, str) else c
               for c in children]
        mid = msg_id or "t%s" % secrets.token_hex(6)

        def go():
            m = self.xmpp.Message()
            m.xml.set("to", to)
            m.xml.set("id", mid)
            if mtype is not None:
                m.xml.set("type", mtype)
            else:
                m.xml.attrib.pop("type", None)
            if body is not None:
                m["body"] = body
            for el in els:
                m.xml.append(el)
            m.send()
        shared_loop().call_soon_threadsafe(go)
        return mid

    def send_chat(self, to, body, mtype="chat"):
        """A chat message to any JID (escaped ones too); returns its id."""
        return self.send_stanza(to, body, mtype)

    def iq(self, to, payload, itype="get", timeout=10.0):
        """Send an IQ of type itype to `to` with payload (XML text) as its
        only child; return its answer as an IqReply (a result or an error;
        raises on timeout)."""
        el = ET.fromstring(payload)

        async def go():
            iq = self.xmpp.Iq()
            iq["type"] = itype
            iq["to"] = to
            iq.xml.append(el)
            try:
                r = await iq.send(timeout=timeout)
            except IqError as e:
                r = e.iq
            return r.xml
        return IqReply(_run(go(), timeout + 2))

    def disco_items(self, to, node=None, timeout=10.0):
        """XEP-0030 items of `to` (at node): (reply, [(jid, node, name)])."""
        q = ET.Element("{%s}query" % NS_DISCO_ITEMS)
        if node is not None:
            q.set("node", node)
        r = self.iq(to, ET.tostring(q, encoding="unicode"), "get", timeout)
        q = r.xml.find("{%s}query" % NS_DISCO_ITEMS)
        items = [(i.get("jid"), i.get("node"), i.get("name"))
                 for i in (q.findall("{%s}item" % NS_DISCO_ITEMS)
                           if q is not None else [])]
        return r, items

    def command(self, to, node, action="execute", sessionid=None,
                fields=None, timeout=10.0):
        """A XEP-0050 command stage: `fields` ({var: value or [values]})
        goes as a submitted data form. Returns a CommandReply."""
        cmd = ET.Element("{%s}command" % NS_COMMANDS,
                         {"node": node, "action": action})
        if sessionid is not None:
            cmd.set("sessionid", sessionid)
        if fields is not None:
            x = ET.SubElement(cmd, "{%s}x" % NS_DATA, {"type": "submit"})
            for var, value in fields.items():
                f = ET.SubElement(x, "{%s}field" % NS_DATA, {"var": var})
                for v in value if isinstance(value, list) else [value]:
                    ET.SubElement(f, "{%s}value" % NS_DATA).text = v
        r = self.iq(to, ET.tostring(cmd, encoding="unicode"), "set",
                    timeout)
        return CommandReply(r.xml)

    def disconnect(self, timeout=5.0):
        """Close the stream politely and wait until it is closed."""
        if self.xmpp is None:
            return
        self._closing = True
        x = self.xmpp

        async def go():
            if x.transport is None:
                return
            waiter = x.disconnected
            x.disconnect(wait=1.0)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
            except asyncio.TimeoutError:
                x.abort()
        try:
            _run(go(), timeout + 2)
        except Exception:
            pass
        self.xmpp = None

    @property
    def connected(self):
        x = self.xmpp
        return x is not None and x.transport is not None and \
            self.disconnects == 0

    def roster_item(self, jid, timeout=5.0):
        """(name, subscription) of jid in the server's roster of this
        account (a fresh roster get), or None when it is not there."""
        async def go():
            iq = self.xmpp.Iq(stype="get")
            iq.enable("roster")
            res = await iq.send(timeout=timeout)
            for item_jid, item in res["roster"]["items"].items():
                if item_jid.bare == jid:
                    return (item["name"], item["subscription"])
            return None
        return _run(go(), timeout + 1)

    def roster_remove(self, jid, timeout=5.0):
        """Removes jid from this account's roster."""
        async def go():
            iq = self.xmpp.Iq(stype="set")
            iq["roster"]["items"] = {jid: {"subscription": "remove"}}
            await iq.send(timeout=timeout)
        _run(go(), timeout + 1)

    # -- received stanzas --------------------------------------------------

    def _on_message(self, stanza):
        n = Notice(stanza)
        with self._cond:
            if n.body is None and n.frm in self.ignore_from:
                self.ignored.append(n)
                return
            self.messages.append(n)
            self._cond.notify_all()

    def _on_presence(self, stanza):
        with self._cond:
            self.presences.append((stanza["from"].full, stanza["type"]))
            self._cond.notify_all()

    def wait_for_message(self, predicate=None, timeout=5.0, start=0):
        """Return the first message (from index `start` on) that satisfies
        `predicate`, waiting up to `timeout` seconds; None on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for n in self.messages[start:]:
                    if predicate is None or predicate(n):
                        return n
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def wait_for_count(self, count, predicate=None, timeout=5.0):
        """Wait until at least `count` messages satisfy `predicate`; return
        all matching messages (possibly fewer on timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [n for n in self.messages
                       if predicate is None or predicate(n)]
                left = deadline - time.monotonic()
                if len(got) >= count or left <= 0:
                    return got
                self._cond.wait(left)

    def wait_until(self, cond, timeout=5.0):
        """Wait until cond(messages) is true; return its last value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                v = cond(list(self.messages))
                left = deadline - time.monotonic()
                if v or left <= 0:
                    return v
                self._cond.wait(left)

    def notices(self, frm=None):
        """Messages carrying a tidings payload (optionally from `frm`)."""
        with self._cond:
            return [n for n in self.messages
                    if (n.mail is not None or n.digest is not None or
                        n.summary is not None)
                    and (frm is None or n.frm.split("/")[0] == frm)]

    def clear(self):
        with self._cond:
            self.messages.clear()


def connect_many(accounts, host, port, timeout=30.0, presence=True,
                 ignore_from=(), tls=False, ca_file=None):
    """Log in many clients at once: accounts is a list of (jid, password).
    tls and ca_file as for Client.connect. Returns the Clients in the same
    order; raises on the first failure."""
    clients = [Client(jid, ignore_from=ignore_from) for jid, _ in accounts]
    futs = []
    for c, (jid, pw) in zip(clients, accounts):
        c.jid = jid
        futs.append(asyncio.run_coroutine_threadsafe(
            c._connect(jid, pw, host, port, presence, timeout, tls,
                       ca_file),
            shared_loop()))
    for f in futs:
        f.result(timeout + 2)
    return clients
