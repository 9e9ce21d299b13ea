"""Helpers of the test XMPP client for mail from chat (issue 7), kept out
of xmppclient.py: XEP-0461 replies with an XEP-0428 fallback, an ad-hoc
command run through its form, XEP-0100 jabber:iq:gateway, XEP-0030
disco#info and waiting for a message from one JID.

xmppclient.Client inherits ExtrasMixin; the methods use only the
Client's own send_stanza, command, iq and wait_for_message, so this
module imports nothing of xmppclient (no import cycle).
"""

import xml.etree.ElementTree as ET

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_REPLY = "urn:xmpp:reply:0"
NS_FALLBACK = "urn:xmpp:fallback:0"
NS_GATEWAY = "jabber:iq:gateway"
NS_OOB = "jabber:x:oob"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
NS_RECEIPTS = "urn:xmpp:receipts"


def escape_node(localpart):
    """XEP-0106 escaping of a JID localpart (an e-mail address): the
    characters space " & ' / : < > @ and a backslash that starts an
    escape sequence become \\XX (a backslash and two hex digits)."""
    out = []
    for i, ch in enumerate(localpart):
        if ch in " \"&'/:<>@":
            out.append("\\%02x" % ord(ch))
        elif ch == "\\" and localpart[i + 1:i + 3].lower() in (
                "20", "22", "26", "27", "2f", "3a", "3c", "3e", "40",
                "5c"):
            out.append("\\5c")
        else:
            out.append(ch)
    return "".join(out)


def address_jid(address, component):
    """The JID at `component` for an e-mail address:
    carol@example.net -> carol\\40example.net@mail.example.org."""
    return "%s@%s" % (escape_node(address), component)


class ExtrasMixin:
    """Methods for xmppclient.Client (see the module docstring)."""

    def send_reply(self, to, reply_id, text, quote=None, reply_to=None,
                   mtype="chat", children=()):
        """An XEP-0461 reply to the message `reply_id` (from `reply_to`,
        a JID, if given). With `quote`, the body starts with it as an
        XEP-0428 fallback ("> " before each line, then a newline) that
        <fallback for='urn:xmpp:reply:0'><body start end/></fallback>
        marks, offsets in code points as XEP-0426 says. Returns the id."""
        body = text
        extra = []
        r = ET.Element("{%s}reply" % NS_REPLY, {"id": reply_id})
        if reply_to is not None:
            r.set("to", reply_to)
        extra.append(r)
        if quote is not None:
            fb = "".join("> %s\n" % line for line in quote.split("\n"))
            body = fb + text
            f = ET.Element("{%s}fallback" % NS_FALLBACK, {"for": NS_REPLY})
            ET.SubElement(f, "{%s}body" % NS_FALLBACK,
                          {"start": "0", "end": str(len(fb))})
            extra.append(f)
        return self.send_stanza(to, body, mtype, extra + list(children))

    def send_raw(self, text):
        """Send `text` as is on the stream (a whole stanza; character
        references such as &#13; reach the server unchanged, which
        send_stanza cannot do)."""
        x = self.xmpp
        x.loop.call_soon_threadsafe(x.send_raw, text)

    def run_command(self, to, node, fields, timeout=10.0):
        """Execute the XEP-0050 command `node` of `to`, then complete it
        with the data form `fields` ({var: value or [values]}). Returns
        (first, last): the CommandReply of the execute (the form) and of
        the complete (status, notes). When the execute already fails or
        completes, last is None."""
        first = self.command(to, node, timeout=timeout)
        if first.type != "result" or first.status != "executing":
            return first, None
        last = self.command(to, node, action="complete",
                            sessionid=first.sessionid, fields=fields,
                            timeout=timeout)
        return first, last

    def gateway_get(self, to, timeout=10.0):
        """XEP-0100 jabber:iq:gateway get: (IqReply, desc, prompt)."""
        r = self.iq(to, "<query xmlns='%s'/>" % NS_GATEWAY, "get", timeout)
        q = r.xml.find("{%s}query" % NS_GATEWAY)
        if q is None:
            return r, None, None
        return (r, q.findtext("{%s}desc" % NS_GATEWAY),
                q.findtext("{%s}prompt" % NS_GATEWAY))

    def gateway_set(self, to, prompt, timeout=10.0):
        """XEP-0100 jabber:iq:gateway set with <prompt>: (IqReply, the
        <jid/> text or None)."""
        q = ET.Element("{%s}query" % NS_GATEWAY)
        ET.SubElement(q, "{%s}prompt" % NS_GATEWAY).text = prompt
        r = self.iq(to, ET.tostring(q, encoding="unicode"), "set", timeout)
        q = r.xml.find("{%s}query" % NS_GATEWAY)
        jid = q.findtext("{%s}jid" % NS_GATEWAY) if q is not None else None
        return r, jid

    def disco_info(self, to, node=None, timeout=10.0):
        """XEP-0030 info of `to` (at node): (IqReply, [(category, type,
        name)], [features])."""
        q = ET.Element("{%s}query" % NS_DISCO_INFO)
        if node is not None:
            q.set("node", node)
        r = self.iq(to, ET.tostring(q, encoding="unicode"), "get", timeout)
        q = r.xml.find("{%s}query" % NS_DISCO_INFO)
        if q is None:
            return r, [], []
        ids = [(i.get("category"), i.get("type"), i.get("name"))
               for i in q.findall("{%s}identity" % NS_DISCO_INFO)]
        feats = [f.get("var")
                 for f in q.findall("{%s}feature" % NS_DISCO_INFO)]
        return r, ids, feats

    def wait_from(self, jid, predicate=None, timeout=5.0, start=0):
        """The first message (from index `start` on) from `jid` (a bare
        JID matches any resource of it; compared as written in the
        stanza, so escaped JIDs match as they are sent) that satisfies
        `predicate`; None on timeout."""
        def from_jid(n):
            f = n.frm
            return (f == jid or f.split("/", 1)[0] == jid) and \
                (predicate is None or predicate(n))
        return self.wait_for_message(from_jid, timeout, start)

