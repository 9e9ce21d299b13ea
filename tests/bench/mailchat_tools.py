"""Helpers of tests/bench/mailchat.py: the answers to a chat as the raw
clients see them, the chats themselves, IMAP STATUS polling as the
Dovecot master user, Postfix's master pid.

Importing this module installs scan_with_answers() into rawxmpp (for this
process only): rawxmpp classifies <mail>, <digest> and <summary>; the
<sent> and <not-sent> answers to a chat (bridge/br_sender_text.c) would
be "other". With it they get kinds of their own: "sent" with the text of
<sent><subject>, "not-sent" with the whole stanza (bytes, for the reason
and a sample).
"""

import asyncio
import os
import re
import time

import rawxmpp

KIND_SENT = "sent"
KIND_NOT_SENT = "not-sent"
_scan_message = rawxmpp.scan_message


def scan_with_answers(data, s, e):
    r = _scan_message(data, s, e)
    if r[0] != rawxmpp.KIND_OTHER:
        return r
    if data.find(b"<sent ", s, e) >= 0:
        return KIND_SENT, None, rawxmpp._text(data, b"<subject>",
                                              b"</subject>", s, e), 0
    if data.find(b"<not-sent ", s, e) >= 0:
        return KIND_NOT_SENT, None, data[s:e], 0
    return r


rawxmpp.scan_message = scan_with_answers


def not_sent_reason(stanza):
    i = stanza.find(b"<not-sent ")
    v = rawxmpp._attr(stanza, b" reason=", i, stanza.find(b">", i))
    return (v or b"?").decode(errors="replace")


def answer_address(stanza, component):
    """The address an answer speaks for: its from, unescaped."""
    gt = stanza.find(b">")
    frm = (rawxmpp._attr(stanza, b" from=", 0, gt) or b"").decode(
        errors="replace")
    return frm.rsplit("@" + component, 1)[0].replace("\\40", "@")


def escape_node(address):
    """XEP-0106 escaping of an e-mail address as a JID localpart (as
    tests/integration/xmppextras.py; enough for plain addresses)."""
    return "".join("\\%02x" % ord(c) if c in " \"&'/:<>@" else c
                   for c in address)


def chat(to, token, n):
    """A chat whose first line (the mail's subject) is token."""
    return ("<message type='chat' to='%s' id='%s'><body>%s\nBenchmark mail "
            "number %d, written in chat.</body></message>" % (to, token,
                                                              token, n))


# ----- IMAP STATUS over one persistent master-user connection -----

class ImapStatus:
    """user*master logged in to Dovecot; status() is one STATUS round
    trip. Not IDLE: Dovecot 2.3 reports a change to an IDLE client only
    after a fixed 500 ms delay (NOTIFY_DELAY_MSECS in mailbox-watch.c),
    which would swamp what is measured."""

    UIDNEXT = re.compile(rb"UIDNEXT (\d+)")
    MESSAGES = re.compile(rb"MESSAGES (\d+)")

    def __init__(self, port, user, master, password):
        self.port, self.user = port, user
        self.login = '"%s*%s" "%s"' % (user, master, password)
        self.r = self.w = None
        self.tag = 0

    async def cmd(self, line, timeout=15.0):
        self.tag += 1
        tag = b"b%d" % self.tag
        self.w.write(tag + b" " + line.encode() + b"\r\n")
        out = []
        while True:
            s = await asyncio.wait_for(self.r.readline(), timeout)
            if not s:
                raise ConnectionError("IMAP closed (%s)" % self.user)
            if s.startswith(tag + b" "):
                if not s.startswith(tag + b" OK"):
                    raise ConnectionError("IMAP %s: %r" % (line, s))
                return out
            out.append(s)

    async def connect(self):
        self.r, self.w = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), 10)
        await asyncio.wait_for(self.r.readline(), 10)
        await self.cmd("LOGIN " + self.login)
        return self

    async def status(self, mailbox="INBOX", what="UIDNEXT"):
        """(value, time the command was written, time the answer came)."""
        t0 = time.perf_counter()
        lines = await self.cmd('STATUS "%s" (%s)' % (mailbox, what))
        t1 = time.perf_counter()
        rx = self.UIDNEXT if what == "UIDNEXT" else self.MESSAGES
        for s in lines:
            m = rx.search(s)
            if m:
                return int(m.group(1)), t0, t1
        raise ConnectionError("no %s in %r" % (what, lines))

    def close(self):
        if self.w is not None:
            self.w.close()
            self.w = None


# ----- Postfix -----

def postfix_pid(pf):
    try:
        with open(os.path.join(pf.queue_dir, "pid", "master.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None
