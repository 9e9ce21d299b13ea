"""The native Dovecot push driver (lib30_tidings_push_plugin.so).

It must send the same datagrams as the Lua script
(examples/dovecot/tidings-push.lua) and never disturb a delivery:

- test_encoder_matches_lua: the C encoder and the script's M.encode give
  the same bytes for thousands of random and nasty events (no Dovecot).
- test_same_datagrams_as_lua_driver: two real Dovecots, one per driver,
  get the same mails and IMAP actions; the datagrams are byte-identical
  except "uidvalidity" (each Dovecot creates its own mailboxes).
- test_nobody_listening_*: no socket, a stale socket, a full queue:
  every delivery succeeds and Dovecot logs no error.
- test_tidingsd_accepts_every_datagram: tidingsd reads the native driver's
  datagrams and drops none.

Benchmark (figures, nothing asserted):
    python3 tests/integration/test_native_push.py bench [N]

The plugin is taken from $TIDINGS_BUILD/mailstore/dovecot-plugin/
(TIDINGS_BUILD defaults to /work/main/build).
"""

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import dovecot as dvm  # noqa: E402
import tidingsd as td  # noqa: E402

from dovecot import NativeDovecot, plugin_path  # noqa: E402

LUA = shutil.which("lua5.4")


def encoder_tool():
    return os.path.join(td.build_dir(), "mailstore", "dovecot-plugin",
                        "test-ms-push-json")


def need_root():
    if os.geteuid() != 0:
        pytest.skip("runs Dovecot as root")


def need_plugin():
    if not os.path.isdir("/usr/include/dovecot"):
        pytest.skip("dovecot-dev not installed: the plugin is not built")
    if not os.path.exists(plugin_path()):
        pytest.fail("%s is missing (build it)" % plugin_path())


def log_problems(dv):
    """Dovecot log lines that report an error (empty list when clean)."""
    return [ln for ln in dv.log().splitlines()
            if re.search(r": (Error|Panic|Fatal|Warning): ", ln)
            and "Killed with signal 15" not in ln]  # our own shutdown


# -- mails and actions used by the comparison ---------------------------------

DATE = "Tue, 26 Nov 2024 10:00:00 +0130"


def nasty_mails(rcpt):
    """(name, bytes) pairs: RFC 2047, raw 8-bit, 10 kB, controls, ..."""
    def mail(subject, frm="Alice Example <alice@example.org>", body=None,
             date=DATE, extra=b""):
        hdr = b"From: " + frm + b"\r\n" if isinstance(frm, bytes) else \
            ("From: %s\r\n" % frm).encode()
        hdr += ("To: %s\r\n" % rcpt).encode()
        if date:
            hdr += ("Date: %s\r\n" % date).encode()
        hdr += b"Message-ID: <%d@test.tidings>\r\n" % len(subject)
        hdr += b"Subject: " + subject + b"\r\n" + extra
        hdr += (b"MIME-Version: 1.0\r\nContent-Type: text/plain; "
                b"charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
        return hdr + (body or b"Hello,\r\nthis is a test.\r\n")
    long_subject = ("=?utf-8?q?" + "=C3=A9" * 20 + "?= ").encode() + \
        b"x" * 10000
    return [
        ("plain", mail(b"Lunch?")),
        ("rfc2047 utf-8 B", mail(b"=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4g4oKs?=")),
        ("rfc2047 mixed charsets", mail(
            b"=?iso-8859-1?q?caf=E9?= and =?koi8-r?b?8NLJ18XU?= =?utf-8?Q?"
            b"=F0=9F=98=80?=")),
        ("encoded display name", mail(
            b"from", frm="=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.org>")),
        ("raw 8-bit latin-1", mail(b"Gr\xfc\xdfe caf\xe9",
                                   frm=b"M\xfcller <m@example.org>")),
        ("raw 8-bit utf-8", mail("Grüße € 😀".encode())),
        ("invalid utf-8", mail(b"bad \xc3\x28 \xed\xa0\x80 \xf8\x88 end")),
        ("10 kB subject", mail(b"y" * 10240)),
        ("10 kB encoded subject", mail(long_subject)),
        ("controls", mail(b"a\x01b\x07c\x1bd\x7fe\tf \"q\" back\\slash")),
        ("controls in body", mail(b"body", body=b"x\x01\x02\"\\ \xff\xfe\r\n"
                                  b"second line\r\n")),
        ("no date", mail(b"undated", date=None)),
        ("bad date", mail(b"bad date", date="not a date")),
        ("empty subject", mail(b"")),
        ("folded subject", mail(b"first\r\n second\r\n\tthird")),
        ("long to", mail(b"many", extra=b"Cc: x@example.org\r\n")),
    ]


def imap_actions(dv, user):
    """The same IMAP actions on either Dovecot (APPEND, flags, expunge)."""
    im = dv.imap(user)
    try:
        im.create("Sent")
        im.append("Sent", "(\\Seen)", None,
                  b"From: " + user.encode() + b"\r\nTo: Carol "
                  b"<carol@example.net>\r\nSubject: =?utf-8?q?sent_=E2=82=AC?="
                  b"\r\nDate: " + DATE.encode() + b"\r\nMessage-ID: "
                  b"<sent@test.tidings>\r\n\r\nsent body\r\n")
        im.select("INBOX")
        im.store("1", "+FLAGS", "(\\Seen)")
        im.store("2", "+FLAGS", "(\\Flagged \\Answered)")
        im.store("2", "+FLAGS", "(custom)")
        im.store("1", "-FLAGS", "(\\Seen)")
        im.store("3", "+FLAGS", "(\\Deleted)")
        im.expunge()
        im.close()
    finally:
        im.logout()


# What imap_actions() causes, in order, as (event, flags). Dovecot's core
# emits a FlagsClear (empty when nothing was cleared) for every flag change
# because the Lua driver asks FlagsClear to keep the old flags; the native
# driver asks for the same so that tidingsd sees the same events.
IMAP_EVENTS = [
    ("MessageAppend", ["\\Seen"]),
    ("FlagsClear", []), ("FlagsSet", ["\\Seen"]), ("MessageRead", None),
    ("FlagsClear", []), ("FlagsSet", ["\\Answered", "\\Flagged"]),
    ("FlagsClear", []), ("FlagsSet", []),  # the keyword "custom" only
    ("FlagsClear", ["\\Seen"]),
    ("FlagsClear", []), ("FlagsSet", ["\\Deleted"]), ("MessageTrash", None),
    ("MessageExpunge", None),
]


def normalise(datagram):
    return re.sub(rb'"uidvalidity":\d+', b'"uidvalidity":0', datagram)


def wait_stable(listener, timeout=10.0, quiet=1.0):
    """All datagrams once none has arrived for `quiet` seconds."""
    end = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < end:
        n = len(listener.datagrams)
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        time.sleep(0.05)
    return list(listener.datagrams)


# -- tests ----------------------------------------------------------------------

def random_string(rng, cap):
    pieces = ["a", "Z", " ", "\"", "\\", "\x01", "\x1f", "\x7f", "\t", "\n",
              "é", "€", "😀", "\U0010ffff", "\ud7ff"]
    raw = [b"\x80", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
           b"\xff", b"\xc0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"]
    n = rng.choice([0, 1, 3, 20, cap - 2, cap - 1, cap, cap + 1, cap + 3,
                    2 * cap])
    out = bytearray()
    bad = rng.random() < 0.3
    while len(out) < n:
        if bad and rng.random() < 0.05:
            out += rng.choice(raw)
        else:
            out += rng.choice(pieces).encode()
    return bytes(out[:n + rng.randint(0, 3)])


LUA_DRIVER = r"""
dofile(arg[1])
local M = tidings_push
local function unhex(f)
  if f == "-" then return nil end
  if f == "." then return "" end
  return (f:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
end
local function num(f) if f == "-" then return nil end return tonumber(f) + 0.0 end
local names = {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft",
               "\\Recent"}
for line in io.lines() do
  local f = {}
  for w in line:gmatch("%S+") do f[#f + 1] = w end
  local ev = {mailbox = unhex(f[3]), uid_validity = num(f[4]), uid = num(f[5]),
    message_id = unhex(f[6]), from = unhex(f[7]), from_address = unhex(f[8]),
    from_display_name = unhex(f[9]), to = unhex(f[10]),
    subject = unhex(f[11]), snippet = unhex(f[12]), date = num(f[13]),
    tz = num(f[14])}
  if f[15] ~= "-" then
    local mask, flags = math.tointeger(tonumber(f[15])), {}
    for i, n in ipairs(names) do
      if mask & (1 << (i - 1)) ~= 0 then flags[#flags + 1] = n end
    end
    ev.flags = flags
  end
  local d = M.encode(unhex(f[1]), unhex(f[2]), ev)
  if d == nil then print("-") else
    print((d:gsub(".", function(c) return string.format("%02x", c:byte()) end)))
  end
end
"""


def test_encoder_matches_lua(tmp_path):
    """C encoder == the Lua script's encoder, byte for byte."""
    if LUA is None:
        pytest.skip("lua5.4 not installed")
    if not os.path.exists(encoder_tool()):
        pytest.fail("%s is missing (build it)" % encoder_tool())
    rng = random.Random(20241126)
    caps = {"user": 500, "mailbox": 500, "message_id": 500, "from": 1000,
            "from_address": 500, "from_name": 500, "to": 2000,
            "subject": 1500, "snippet": 1500}
    events = ["MessageNew", "MessageAppend", "MessageRead", "MessageTrash",
              "MessageExpunge", "FlagsSet", "FlagsClear"]

    def hexf(b):
        if b is None:
            return "-"
        return "." if b == b"" else b.hex()
    lines = []
    for i in range(3000):
        fields = [rng.choice(events).encode()]
        for key in ("user", "mailbox"):
            fields.append(random_string(rng, caps[key]))
        row = [hexf(f) for f in fields]
        row += [str(rng.choice([1, 1732, 4294967295])),
                str(rng.choice([1, 5, 4294967295]))]
        for key in ("message_id", "from", "from_address", "from_name", "to",
                    "subject", "snippet"):
            row.append(hexf(None if rng.random() < 0.2
                            else random_string(rng, caps[key])))
        row.append(rng.choice(["-", "0", "-5", "1732000000"]))
        row.append(str(rng.choice([0, 60, -90, 840])))
        row.append(rng.choice(["-", str(rng.randint(0, 63))]))
        lines.append(" ".join(row))
    # A few full-size worst cases: every capped field full of escapes.
    worst = ("\x01" * 3000).encode().hex()
    for _ in range(3):
        lines.append(" ".join(["4d6573736167654e6577", worst, worst, "1", "1"]
                              + [worst] * 7 + ["1732000000", "0", "63"]))
    text = "\n".join(lines) + "\n"
    script = tmp_path / "driver.lua"
    script.write_text(LUA_DRIVER)
    lua = subprocess.run([LUA, str(script), dvm.PUSH_SCRIPT], input=text,
                         capture_output=True, text=True, timeout=120)
    assert lua.returncode == 0, lua.stderr
    c = subprocess.run([encoder_tool(), "--stdin"], input=text,
                       capture_output=True, text=True, timeout=60)
    assert c.returncode == 0, c.stderr
    lua_out, c_out = lua.stdout.splitlines(), c.stdout.splitlines()
    assert len(lua_out) == len(lines) == len(c_out)
    for i, (a, b) in enumerate(zip(lua_out, c_out)):
        assert a == b, "line %d differs:\nlua %r\nc   %r" % (
            i, bytes.fromhex(a)[:300] if a != "-" else a,
            bytes.fromhex(b)[:300] if b != "-" else b)
    assert sum(1 for a in lua_out if a != "-") == len(lines)


def test_same_datagrams_as_lua_driver(tmp_path):
    """Same mails and IMAP actions through both drivers: same datagrams."""
    need_root()
    need_plugin()
    d = tempfile.mkdtemp(prefix="tdn-", dir="/tmp")
    dvm.make_traversable(d)
    user = "bob@example.org"
    users = {user: "pw"}
    dvs, listeners = [], []
    try:
        lua_sock = os.path.join(d, "lua.sock")
        nat_sock = os.path.join(d, "nat.sock")
        listeners = [dvm.DatagramListener(lua_sock),
                     dvm.DatagramListener(nat_sock)]
        dvs = [dvm.Dovecot(os.path.join(d, "lua"), users,
                           push_socket=lua_sock),
               NativeDovecot(os.path.join(d, "nat"), users,
                             native_socket=nat_sock)]
        for dv in dvs:
            dv.start()
        mails = nasty_mails(user)
        for _name, msg in mails:
            for dv in dvs:
                dv.deliver(user, msg)
        for dv in dvs:
            imap_actions(dv, user)
        lua_got = wait_stable(listeners[0])
        nat_got = wait_stable(listeners[1], quiet=0.3)
        assert len(lua_got) == len(mails) + len(IMAP_EVENTS)
        assert len(nat_got) == len(lua_got)
        for i, (a, b) in enumerate(zip(lua_got, nat_got)):
            assert normalise(a) == normalise(b), \
                "datagram %d (%s) differs:\nlua    %r\nnative %r" % (
                    i, mails[i][0] if i < len(mails) else "imap", a, b)
            ja, jb = json.loads(a), json.loads(b)
            assert set(ja) == set(jb)
            assert ja["uidvalidity"] > 0 and jb["uidvalidity"] > 0
        names = [json.loads(x)["event"] for x in nat_got]
        assert names[:len(mails)] == ["MessageNew"] * len(mails)
        assert [(json.loads(x)["event"], json.loads(x).get("flags"))
                for x in nat_got[len(mails):]] == IMAP_EVENTS
        first = json.loads(nat_got[1])
        assert first["subject"] == "Grüße aus Köln €"
        assert first["date"] == 1732609800 and first["tz"] == 90
        long_one = json.loads(nat_got[7])
        assert long_one["subject"] == "y" * 1500
        for dv in dvs:
            assert log_problems(dv) == []
    finally:
        for dv in dvs:
            dv.stop()
        for ls in listeners:
            ls.close()
        if not os.environ.get("TIDINGS_KEEP"):
            shutil.rmtree(d, ignore_errors=True)


def _deliver_all_quietly(tmp_dir, prepare):
    """Start a native Dovecot with socket debug on, let prepare(path) set
    up the socket path, deliver mails; return (dovecot, seconds list)."""
    user = "bob@example.org"
    sock = os.path.join(tmp_dir, "events.sock")
    keep = prepare(sock)
    dv = NativeDovecot(os.path.join(tmp_dir, "dv"), {user: "pw"},
                       native_socket=sock, extra_conf="mail_debug = yes\n")
    dv.start()
    try:
        times = []
        for i in range(3):
            for _name, msg in nasty_mails(user):
                times.append(dv.deliver(user, msg))
        imap_actions(dv, user)
        return dv, times, keep
    finally:
        dv.stop()


def fill_queue(path):
    """Queue datagrams to path until a fresh sender gets EAGAIN at once;
    return the sending sockets (keep them open)."""
    senders = []
    for _ in range(100000):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.setblocking(False)
        senders.append(s)
        sent = 0
        try:
            while True:
                s.sendto(b"{}", path)
                sent += 1
        except BlockingIOError:
            pass
        if sent == 0:
            return senders
    raise RuntimeError("could not fill %s" % path)


@pytest.mark.parametrize("case", ["missing", "stale", "full"])
def test_nobody_listening(case):
    """No socket / a stale socket / a full queue: deliveries succeed at
    once, Dovecot logs no error, the driver notes the failure in debug."""
    need_root()
    need_plugin()
    d = tempfile.mkdtemp(prefix="tdn-", dir="/tmp")
    dvm.make_traversable(d)

    def prepare(path):
        if case == "missing":
            return []
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        os.chown(path, -1, dvm.mail_gid())
        os.chmod(path, 0o660)
        if case == "stale":
            s.close()  # the file stays: ECONNREFUSED
            return []
        # Bound, never read, and its queue filled up front (EAGAIN for
        # the next sender, whatever net.unix.max_dgram_qlen is).
        return [s] + fill_queue(path)
    keep = []
    try:
        dv, times, keep = _deliver_all_quietly(d, prepare)
        assert len(times) == 3 * len(nasty_mails("x"))
        assert max(times) < 2.0
        assert log_problems(dv) == []
        log = dv.log()
        assert "tidings: sending events to %s" % os.path.join(
            d, "events.sock") in log
        errno_text = {"missing": "No such file or directory",
                      "stale": "Connection refused",
                      "full": "Resource temporarily unavailable"}[case]
        assert re.search(r"tidings: sendto\(.*\) failed: " + errno_text,
                         log), [ln for ln in log.splitlines()
                                if "tidings: " in ln][:5]
    finally:
        for k in keep or []:
            k.close()
        shutil.rmtree(d, ignore_errors=True)


def test_bad_config_disables_driver_only():
    """No socket configured: one clear error per session, mail still
    delivered."""
    need_root()
    need_plugin()
    d = tempfile.mkdtemp(prefix="tdn-", dir="/tmp")
    try:
        dv = NativeDovecot(os.path.join(d, "dv"), {"bob@example.org": "pw"},
                           native_socket="x")
        # Replace the driver line by one without socket=.
        orig = dv.config_text
        dv.config_text = lambda u, m: orig(u, m).replace(
            "tidings:socket=x", "tidings")
        dv.start()
        try:
            dv.deliver("bob@example.org", nasty_mails("bob@example.org")[0][1])
        finally:
            dv.stop()
        assert "tidings: no socket=<path> in push_notification_driver" \
            in dv.log()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_tidingsd_accepts_every_datagram(tidingsd_binary, tmpdir_short):
    """tidingsd reads the native driver's datagrams: none is dropped."""
    need_plugin()
    from stack import Stack
    st = Stack(os.path.join(tmpdir_short, "s"), users={"bob": "pw"},
               log={"level": "trace", "trace": "events"})
    old = st.dovecot
    st.dovecot = NativeDovecot(
        st.dir, old.users, master_user=old.master_user,
        master_password=old.master_password,
        native_socket=st.events_socket)
    try:
        st.start()
        mails = nasty_mails("bob@example.org")
        for _name, msg in mails:
            st.deliver("bob@example.org", msg)
        imap_actions(st.dovecot, "bob@example.org")
        want = len(mails) + len(IMAP_EVENTS)
        st.tidingsd.wait_log("user=bob@example.org mailbox=", timeout=10,
                             count=want)
        time.sleep(0.5)
    finally:
        rc = st.stop()
    log = st.tidingsd.log()
    assert rc == 0
    assert "events: dropped" not in log
    m = re.search(r"stats: events (\d+) \(dropped (\d+), refused (\d+)\)",
                  log)
    assert m is not None, log[-2000:]
    assert (int(m.group(1)), int(m.group(2)), int(m.group(3))) == (want, 0, 0)
    assert log_problems(st.dovecot) == []


# -- benchmark -------------------------------------------------------------------

def bench(n=300):
    """LMTP delivery time: (a) no push, (b) native + listener, (c) native,
    nobody listening, (d) Lua + listener. Round-robin, one delivery each
    per round, so machine load hits all four alike."""
    rcpt = "bench@example.org"
    modes = ("a no push", "b native, listener", "c native, nobody",
             "d lua, listener")
    times = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="tdn-bench-") as d:
        dvm.make_traversable(d)
        dvs, listeners = {}, {}
        try:
            for i, mode in enumerate(modes):
                sub = os.path.join(d, str(i))
                os.makedirs(sub)
                sock = os.path.join(sub, "events.sock")
                if mode.startswith("a"):
                    dvs[mode] = dvm.Dovecot(sub, {rcpt: "pw"})
                elif mode.startswith("d"):
                    dvs[mode] = dvm.Dovecot(sub, {rcpt: "pw"},
                                            push_socket=sock)
                else:
                    dvs[mode] = NativeDovecot(sub, {rcpt: "pw"},
                                              native_socket=sock)
                if "listener" in mode:
                    listeners[mode] = dvm.DatagramListener(sock)
                dvs[mode].start()
            for i in range(n + 10):
                for mode in modes:
                    msg = dvm._bench_mail(rcpt, i)
                    t = dvs[mode].deliver(rcpt, msg)
                    if i >= 10:
                        times[mode].append(t * 1000.0)
            got = {m: len(wait_stable(ls, quiet=0.5))
                   for m, ls in listeners.items()}
        finally:
            for ls in listeners.values():
                ls.close()
            for dv in dvs.values():
                dv.stop()
    res = {m: dvm._stats(times[m]) for m in modes}
    for m in modes:
        r = res[m]
        print("%-20s median %.3f ms  p90 %.3f ms  p99 %.3f ms  mean %.3f ms"
              % (m, r["median_ms"], r["p90_ms"], r["p99_ms"], r["mean_ms"]))
    base = res[modes[0]]
    for m in modes[1:]:
        print("added by %-18s %+.3f ms median, %+.3f ms mean"
              % (m[2:], res[m]["median_ms"] - base["median_ms"],
                 res[m]["mean_ms"] - base["mean_ms"]))
    for m, k in got.items():
        print("datagrams received (%s): %d of %d" % (m[2:], k, n + 10))
    return res


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "bench":
        bench(int(sys.argv[2]) if len(sys.argv) > 2 else 300)
    else:
        sys.exit("usage: test_native_push.py bench [N]")
