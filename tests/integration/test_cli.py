"""tidingsd's command line: -n, config errors, file permissions, SIGTERM."""

import os
import re
import signal
import subprocess
import time

import tidingsd as td
from tidingsd import SLOW

SECRET = "s3cr3t-component-Zq9"
MASTER_PASSWORD = "m4ster-pass-Xk2"


def good_config(d):
    return {
        "xmpp": {"component": "mail.example.org", "host": "127.0.0.1",
                 "port": 5347, "secret": SECRET, "domain": "example.org"},
        "mail": {"domain": "example.org", "imap_host": "127.0.0.1",
                 "imap_port": 1143, "master_user": "tidings",
                 "master_password": MASTER_PASSWORD},
        "events": {"socket": os.path.join(d, "events.sock"),
                   "socket_mode": "0660", "socket_group": "mail",
                   "trusted_users": "mail"},
        "state": {"dir": os.path.join(d, "state")},
        "notify": {"burst_max": 5, "burst_window": "20s"},
    }


def test_check_mode_prints_settings_but_no_secrets(tidingsd_binary,
                                                   tmpdir_short):
    path = td.write_config(os.path.join(tmpdir_short, "t.conf"),
                           good_config(tmpdir_short))
    r = td.check_config(path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "mail.example.org" in out
    assert "1143" in out and "tidings" in out
    assert "(hidden)" in out
    assert SECRET not in out and MASTER_PASSWORD not in out
    # Check mode neither binds the socket nor creates state.
    assert not os.path.exists(os.path.join(tmpdir_short, "events.sock"))


def test_config_errors_name_file_and_line(tidingsd_binary, tmpdir_short):
    text = td.format_config(good_config(tmpdir_short))
    lines = text.split("\n")
    cases = [
        ("imap_port = 1143", "imap_port = 53x7"),
        ("burst_max = 5", "burst_max = -1"),
        ("[notify]", "[notfy]"),
        ("domain = example.org", "domain = example.org\nbogus_key = 1"),
    ]
    for old, new in cases:
        idx = lines.index(old) if old in lines else \
            next(i for i, ln in enumerate(lines) if ln.startswith(old))
        bad = lines[:idx] + new.split("\n") + lines[idx + 1:]
        err_line = idx + 1 + (len(new.split("\n")) - 1)
        path = td.write_config(os.path.join(tmpdir_short, "bad.conf"),
                               "\n".join(bad))
        r = td.check_config(path)
        out = r.stdout + r.stderr
        assert r.returncode == 1, (new, out)
        assert re.search(r"(^|\s)%s:%d: \S" % (re.escape(path), err_line),
                         out), (new, err_line, out)
        assert SECRET not in out and MASTER_PASSWORD not in out

    # A missing required key is an error too (naming the file).
    cfg = good_config(tmpdir_short)
    del cfg["xmpp"]["secret"]
    path = td.write_config(os.path.join(tmpdir_short, "nosecret.conf"), cfg)
    r = td.check_config(path)
    assert r.returncode == 1
    assert path + ":" in r.stdout + r.stderr
    assert "secret" in r.stdout + r.stderr


def test_world_readable_config_is_refused(tidingsd_binary, tmpdir_short):
    cfg = good_config(tmpdir_short)
    path = td.write_config(os.path.join(tmpdir_short, "open.conf"), cfg,
                           mode=0o644)
    r = td.check_config(path)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "chmod" in out, out
    assert SECRET not in out
    # The daemon itself refuses it too, without binding anything.
    p = subprocess.run(td.wrapper() + [td.binary(), "-c", path],
                       capture_output=True, text=True, timeout=10 * SLOW)
    assert p.returncode != 0
    assert "chmod" in p.stdout + p.stderr
    assert not os.path.exists(cfg["events"]["socket"])
    # 0640 is fine.
    os.chmod(path, 0o640)
    assert td.check_config(path).returncode == 0


def test_sigterm_exits_zero_and_removes_the_socket(make_stack):
    st = make_stack()
    t = st.tidingsd
    assert os.path.exists(t.events_socket)
    t0 = time.monotonic()
    t.proc.send_signal(signal.SIGTERM)
    rc = t.proc.wait(10 * SLOW)
    elapsed = time.monotonic() - t0
    t.exit_codes.append(rc)
    t.proc = None
    print("\nSIGTERM -> exit %d in %.0f ms" % (rc, elapsed * 1000))
    assert rc == 0, t.tail()
    assert elapsed < 2.0 * SLOW
    assert not os.path.exists(t.events_socket)
    # And it starts again on the same state and socket.
    t.start()
    assert t.running
