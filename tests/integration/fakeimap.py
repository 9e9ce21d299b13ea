"""A scripted IMAP server for fault injection (stdlib only).

    from fakeimap import FakeImap, Server
    class NoStatusData(Server):
        def on_status(self, c, tag, args):
            c.send(tag + b" OK STATUS done\\r\\n")   # no untagged STATUS
    with FakeImap([NoStatusData()]) as fake:
        ... connect to 127.0.0.1:fake.port ...
    fake.commands()  # [(tls, b"LOGIN"), (tls, b"STATUS"), ...] of all conns

FakeImap(behaviours, tls_context=None) listens on a free 127.0.0.1 port and
serves each connection in its own thread: connection i gets behaviours[i]
(the last one again once the list runs out). A behaviour is a Server (or
any object with serve(conn)). Server is a small but correct IMAP4rev1
server for one mailbox (greeting, CAPABILITY, STARTTLS when tls_context is
given, LOGIN, STATUS, EXAMINE/SELECT, UID SEARCH, UID FETCH of UID FLAGS
INTERNALDATE ENVELOPE, LOGOUT); a fault is a subclass overriding one
on_<command> method (or serve itself). Every command line the server read
is recorded with whether TLS was up at the time (fake.transcripts, one list
per connection). Exceptions in a behaviour are kept in fake.errors.

Also here: run_probe(), which runs the pool's test driver imap_probe
(tests/unit/imap/imap_probe.c) from $TIDINGS_BUILD, under the sanitizers
when that build has them, and fails the test on a non-zero exit status.
"""

import json
import os
import socket
import ssl
import subprocess
import threading
import time

BUILD = os.environ.get("TIDINGS_BUILD", "/work/main/build")
PROBE = os.path.join(BUILD, "tests", "unit", "imap", "imap_probe")


class Conn:
    """One accepted connection as a behaviour sees it."""

    def __init__(self, sock, fake, transcript):
        self.sock = sock
        self.fake = fake
        self.tls = False
        self.transcript = transcript
        self._buf = b""

    def send(self, data):
        """Send bytes; False when the client is gone."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except OSError:
            return False
        if not data:
            return False
        self._buf += data
        return True

    def readline(self):
        """The next line from the client (without CRLF), None at EOF."""
        while b"\n" not in self._buf:
            if not self._fill():
                return None
        line, self._buf = self._buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def read_command(self):
        """The next command with its literals inlined, None at EOF.

        A synchronizing literal {n} gets its "+" continuation. The command
        (its first two words) is recorded in the transcript.
        """
        line = self.readline()
        if line is None:
            return None
        whole = line
        while whole.endswith(b"}") and b"{" in whole:
            n = whole[whole.rindex(b"{") + 1:-1].rstrip(b"+")
            if not n.isdigit():
                break
            if not whole.endswith(b"+}"):
                self.send(b"+ go on\r\n")
            n = int(n)
            while len(self._buf) < n:
                if not self._fill():
                    return None
            whole += b"\r\n" + self._buf[:n]
            self._buf = self._buf[n:]
            rest = self.readline()
            if rest is None:
                return None
            whole += rest
        words = whole.split(b" ", 3)
        name = b" ".join(words[1:3]) if len(words) > 2 and \
            words[1].upper() == b"UID" else (words[1] if len(words) > 1
                                             else b"")
        self.transcript.append((self.tls, name.upper()))
        return whole

    def start_tls(self, context):
        """Server side of the TLS handshake on this connection."""
        if self._buf:
            raise RuntimeError("data before the TLS handshake")
        self.sock = context.wrap_socket(self.sock, server_side=True)
        self.tls = True

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def quote(s):
    if s is None:
        return b"NIL"
    if isinstance(s, str):
        s = s.encode("utf-8")
    return b'"' + s.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


class Server:
    """A correct IMAP server for one mailbox; subclass to inject faults."""

    greeting = b"* OK [CAPABILITY IMAP4rev1 STARTTLS] fake ready\r\n"
    uidvalidity = 42
    uidnext = 4
    uids = (1, 2, 3)
    unseen = 2
    tls_context = None  # set by FakeImap

    def serve(self, c):
        if not c.send(self.greeting):
            return
        while True:
            line = c.read_command()
            if line is None:
                return
            parts = line.split(b" ", 2)
            if len(parts) < 2:
                c.send(b"* BAD no command\r\n")
                continue
            tag, cmd = parts[0], parts[1].upper().decode("ascii", "replace")
            args = parts[2] if len(parts) > 2 else b""
            handler = getattr(self, "on_" + cmd.lower(), None)
            if handler is None:
                c.send(tag + b" BAD unknown command\r\n")
                continue
            if handler(c, tag, args) is False:
                c.close()
                return

    # -- the mailbox ---------------------------------------------------

    def messages(self):
        return len(self.uids)

    def envelope(self, uid):
        return b"".join([
            b"(", quote("Tue, 01 Jun 2021 12:34:56 +0200"), b" ",
            quote("mail %d" % uid), b" ",
            b'(("Sender %d" NIL "s%d" "example.net")) NIL NIL NIL NIL NIL'
            % (uid, uid), b" NIL ", quote("<%d@fake>" % uid), b")"])

    def fetch_line(self, seq, uid):
        return (b"* %d FETCH (UID %d FLAGS (%s) INTERNALDATE "
                b"\"01-Jun-2021 12:34:56 +0200\" ENVELOPE %s)\r\n"
                % (seq, uid, b"\\Seen" if uid % 2 == 0 else b"",
                   self.envelope(uid)))

    @staticmethod
    def parse_set(text):
        """A UID set such as 1:5,7 -> list of (first, last)."""
        out = []
        for part in text.split(b","):
            a, _, b = part.partition(b":")
            a = 2 ** 32 - 1 if a == b"*" else int(a)
            b = a if not b else (2 ** 32 - 1 if b == b"*" else int(b))
            out.append((min(a, b), max(a, b)))
        return out

    def in_set(self, uid, ranges):
        return any(a <= uid <= b for a, b in ranges)

    # -- commands ------------------------------------------------------

    def on_capability(self, c, tag, args):
        c.send(b"* CAPABILITY IMAP4rev1 STARTTLS\r\n" + tag + b" OK done\r\n")

    def on_noop(self, c, tag, args):
        c.send(tag + b" OK done\r\n")

    def on_starttls(self, c, tag, args):
        if self.tls_context is None or c.tls:
            c.send(tag + b" NO no TLS here\r\n")
            return
        c.send(tag + b" OK Begin TLS negotiation now\r\n")
        try:
            c.start_tls(self.tls_context)
        except (OSError, ssl.SSLError):
            return False

    def on_login(self, c, tag, args):
        c.send(tag + b" OK Logged in\r\n")

    def on_status(self, c, tag, args):
        c.send(b"* STATUS INBOX (MESSAGES %d UNSEEN %d UIDNEXT %d "
               b"UIDVALIDITY %d)\r\n%s OK Status completed.\r\n"
               % (self.messages(), self.unseen, self.uidnext,
                  self.uidvalidity, tag))

    def on_examine(self, c, tag, args):
        c.send(b"* %d EXISTS\r\n* OK [UIDVALIDITY %d] UIDs valid\r\n"
               b"* OK [UIDNEXT %d] Predicted next UID\r\n"
               b"%s OK [READ-ONLY] Examine completed.\r\n"
               % (self.messages(), self.uidvalidity, self.uidnext, tag))

    on_select = on_examine

    def on_uid(self, c, tag, args):
        sub, _, rest = args.partition(b" ")
        sub = sub.upper()
        if sub == b"SEARCH":
            return self.uid_search(c, tag, rest)
        if sub == b"FETCH":
            return self.uid_fetch(c, tag, rest)
        c.send(tag + b" BAD unknown UID command\r\n")

    def search_result(self, ranges):
        return [u for u in self.uids if self.in_set(u, ranges)]

    def uid_search(self, c, tag, rest):
        words = rest.split()
        ranges = self.parse_set(words[words.index(b"UID") + 1]) \
            if b"UID" in words else [(1, 2 ** 32 - 1)]
        found = self.search_result(ranges)
        c.send(b"* SEARCH" + b"".join(b" %d" % u for u in found) + b"\r\n"
               + tag + b" OK Search completed.\r\n")

    def uid_fetch(self, c, tag, rest):
        ranges = self.parse_set(rest.split(b" ", 1)[0])
        out = [self.fetch_line(i + 1, u) for i, u in enumerate(self.uids)
               if self.in_set(u, ranges)]
        c.send(b"".join(out) + tag + b" OK Fetch completed.\r\n")

    def on_logout(self, c, tag, args):
        c.send(b"* BYE Logging out\r\n" + tag + b" OK Logout completed.\r\n")
        return False


class FakeImap:
    """The server; see the module docstring."""

    def __init__(self, behaviours, tls_context=None):
        self.behaviours = list(behaviours) or [Server()]
        self.tls_context = tls_context
        self.transcripts = []
        self.errors = []
        self.accepted = 0
        self._conns = []
        self._threads = []
        self._lock = threading.Lock()
        self._stopping = False
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop,
                                               daemon=True)

    def start(self):
        self._accept_thread.start()
        return self

    def _accept_loop(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                if self._stopping:
                    sock.close()
                    return
                i = self.accepted
                self.accepted += 1
                transcript = []
                self.transcripts.append(transcript)
                conn = Conn(sock, self, transcript)
                self._conns.append(conn)
                b = self.behaviours[min(i, len(self.behaviours) - 1)]
                b.tls_context = self.tls_context
                t = threading.Thread(target=self._serve, args=(b, conn),
                                     daemon=True)
                self._threads.append(t)
            t.start()

    def _serve(self, behaviour, conn):
        try:
            behaviour.serve(conn)
        except (OSError, ssl.SSLError):
            pass
        except Exception as e:  # a broken behaviour: the test must see it
            self.errors.append(e)
        finally:
            conn.close()

    def commands(self):
        """[(tls, COMMAND)] over all connections, in accept order."""
        with self._lock:
            return [c for t in self.transcripts for c in t]

    def stop(self):
        with self._lock:
            self._stopping = True
            conns = list(self._conns)
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for c in conns:
            c.close()
        self._accept_thread.join(5)
        for t in self._threads:
            t.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# -- running imap_probe ------------------------------------------------------

def sanitized_build(build=BUILD):
    """True when the meson build in `build` uses -Db_sanitize."""
    path = os.path.join(build, "meson-info", "intro-buildoptions.json")
    try:
        with open(path) as f:
            opts = json.load(f)
    except (OSError, ValueError):
        return False
    return any(o.get("name") == "b_sanitize" and o.get("value") != "none"
               for o in opts)


def run_probe(host, port, users, *opts, master_user="tidings",
              master_password="master-pw", timeout=60):
    """Run imap_probe; return (parsed JSON, seconds it took).

    Under an ASan/UBSan build, leaks and errors abort the probe; any exit
    status but 0 fails the calling test with the probe's stderr.
    """
    if not os.path.exists(PROBE):
        raise AssertionError("imap_probe not built: %s (set TIDINGS_BUILD, "
                             "run ninja -C <build> "
                             "tests/unit/imap/imap_probe)" % PROBE)
    env = dict(os.environ)
    if sanitized_build():
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=1"
        env["UBSAN_OPTIONS"] = "halt_on_error=1:abort_on_error=1:" \
                               "print_stacktrace=1"
    args = [PROBE] + [str(o) for o in opts] + [
        host, str(port), master_user, master_password] + list(users)
    t0 = time.monotonic()
    out = subprocess.run(args, capture_output=True, text=True,
                         timeout=timeout, env=env)
    elapsed = time.monotonic() - t0
    assert out.returncode == 0, "imap_probe exited %d: %s" % (
        out.returncode, out.stderr[-4000:])
    return json.loads(out.stdout), elapsed
