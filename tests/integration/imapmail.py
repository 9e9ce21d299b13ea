"""Reading a stack's mailboxes over IMAP, for the tests (stdlib only).

    import imapmail as mbx
    msgs = mbx.messages(st.dovecot, "bob@example.org")          # INBOX
    m = mbx.wait_message(st.dovecot, "bob@example.org",
                         lambda m: m.header("Subject") == "Hi")
    m.raw, m.msg["From"], m.header("Jabber-ID"), m.flags, m.text()
    sent = mbx.special_use(st.dovecot, "alice@example.org", "\\\\Sent")

Logs in as the master user (dovecot.Dovecot.imap_master, the way tidingsd
does) unless master=False (the user's own password). Every function opens
its own connection and closes it: a test can call them at any time, also
while tidingsd holds IMAP sessions of its own. Mailboxes are selected
read-only (EXAMINE), so reading never sets \\Seen or changes what tidingsd
sees.
"""

import email
import email.policy
import imaplib
import re
import time

import tidingsd as td


class Mail:
    """One message: uid, flags (list of str), raw (bytes), msg (an
    email.message.EmailMessage, policy default)."""

    def __init__(self, uid, flags, raw):
        self.uid = uid
        self.flags = flags
        self.raw = raw
        self.msg = email.message_from_bytes(raw, policy=email.policy.default)

    def header(self, name):
        """The header's value, decoded (RFC 2047) and unfolded; None if
        absent."""
        v = self.msg.get(name)
        return None if v is None else str(v)

    def headers(self, name):
        """All values of header `name` (decoded)."""
        return [str(v) for v in self.msg.get_all(name) or []]

    def raw_headers(self):
        """The header block as bytes (up to the first empty line)."""
        return self.raw.split(b"\r\n\r\n", 1)[0]

    def header_names(self):
        """The names of the header fields, in order, as written (a field
        name is the text before ':' at the start of a line that is not a
        continuation line)."""
        names = []
        for line in self.raw_headers().split(b"\r\n"):
            if line[:1] in (b" ", b"\t") or b":" not in line:
                continue
            names.append(line.split(b":", 1)[0].decode("ascii", "replace"))
        return names

    def text(self):
        """The text/plain body, decoded (charset, transfer encoding),
        with LF line ends."""
        part = self.msg.get_body(preferencelist=("plain",))
        if part is None:
            return None
        return part.get_content().replace("\r\n", "\n")

    def __repr__(self):
        return "<Mail uid=%r flags=%r subject=%r from=%r>" % (
            self.uid, self.flags, self.header("Subject"),
            self.header("From"))


def login(dv, user, master=True):
    """An imaplib.IMAP4 for `user`: as the master user, or with the
    user's password."""
    return dv.imap_master(user) if master else dv.imap(user)


def _quote(mailbox):
    return '"%s"' % mailbox.replace("\\", "\\\\").replace('"', '\\"')


_FETCH_RE = re.compile(rb"UID (\d+).*FLAGS \(([^)]*)\)")


def messages(dv, user, mailbox="INBOX", master=True):
    """All messages of `mailbox` of `user`, oldest first, as Mail objects.
    A mailbox that does not exist raises imaplib.IMAP4.error."""
    im = login(dv, user, master)
    try:
        typ, data = im.select(_quote(mailbox), readonly=True)
        if typ != "OK":
            raise imaplib.IMAP4.error("EXAMINE %s: %r" % (mailbox, data))
        typ, data = im.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
        if typ != "OK":
            raise imaplib.IMAP4.error("FETCH: %r" % (data,))
        out = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            m = _FETCH_RE.search(item[0])
            if m is None:
                continue
            out.append(Mail(int(m.group(1)),
                            m.group(2).decode().split(), item[1]))
        return sorted(out, key=lambda m: m.uid)
    finally:
        try:
            im.logout()
        except Exception:
            pass


def wait_message(dv, user, predicate=None, mailbox="INBOX", timeout=20.0,
                 master=True, count=1):
    """Wait until `mailbox` holds `count` messages satisfying `predicate`
    (a function of Mail); return the first (count=1) or the list. Raises
    AssertionError with what the mailbox holds on timeout. A mailbox that
    does not exist yet counts as empty."""
    deadline = time.monotonic() + timeout * td.SLOW
    got = []
    while True:
        try:
            got = [m for m in messages(dv, user, mailbox, master)
                   if predicate is None or predicate(m)]
        except imaplib.IMAP4.error:
            got = []
        if len(got) >= count:
            return got[0] if count == 1 else got
        if time.monotonic() > deadline:
            try:
                have = messages(dv, user, mailbox, master)
            except imaplib.IMAP4.error as e:
                have = "(%s)" % e
            raise AssertionError("%s of %s: %d matching message(s) after "
                                 "%.0f s, wanted %d; it holds %r"
                                 % (mailbox, user, len(got),
                                    timeout * td.SLOW, count, have))
        time.sleep(0.2)


def by_message_id(mid):
    """A predicate for wait_message: the Message-ID is `mid` (with or
    without the angle brackets)."""
    want = mid.strip().strip("<>")

    def pred(m):
        v = m.header("Message-ID")
        return v is not None and v.strip().strip("<>") == want
    return pred


_LIST_RE = re.compile(rb'\(([^)]*)\) (?:"[^"]*"|NIL) (.*)$')


def list_mailboxes(dv, user, master=True):
    """[(name, [attributes])] of every mailbox of `user`, with their
    special-use attributes (LIST ... RETURN (SPECIAL-USE))."""
    im = login(dv, user, master)
    try:
        typ, data = im._simple_command("LIST", '""', '"*"', "RETURN",
                                       "(SPECIAL-USE)")
        if typ != "OK":
            raise imaplib.IMAP4.error("LIST: %r" % (data,))
        typ, data = im._untagged_response(typ, data, "LIST")
        out = []
        for line in data:
            if isinstance(line, tuple):   # a literal name
                attrs = _LIST_RE.match(line[0])
                name = line[1]
            else:
                attrs = _LIST_RE.match(line)
                name = attrs.group(2) if attrs else None
            if attrs is None or name is None:
                continue
            name = name.decode("utf-8", "replace")
            if name.startswith('"') and name.endswith('"'):
                name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            out.append((name, attrs.group(1).decode().split()))
        return out
    finally:
        try:
            im.logout()
        except Exception:
            pass


def special_use(dv, user, use="\\Sent", master=True):
    """The name of `user`'s mailbox with special-use attribute `use`
    (e.g. "\\Sent"), or None when there is none."""
    for name, attrs in list_mailboxes(dv, user, master):
        if use.lower() in (a.lower() for a in attrs):
            return name
    return None
