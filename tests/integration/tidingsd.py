"""Run tidingsd from the build tree for the integration tests.

The binary is $TIDINGS_BUILD/bridge/tidingsd (TIDINGS_BUILD defaults to
/work/main/build, or the `build` folder next to tests/). When the environment
variable TIDINGS_WRAPPER is set (e.g. "valgrind --error-exitcode=99
--leak-check=full --errors-for-leak-kinds=definite"), it is prepended to
every command line, and every timeout of this module is multiplied by
`SLOW` (TIDINGS_TIMEOUT_FACTOR, default 10 under a wrapper, else 1).
"""

import os
import shlex
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def build_dir():
    return os.environ.get("TIDINGS_BUILD") or os.path.join(REPO, "build")


def binary():
    return os.path.join(build_dir(), "bridge", "tidingsd")


def wrapper():
    w = os.environ.get("TIDINGS_WRAPPER", "").strip()
    return shlex.split(w) if w else []


def _slow():
    f = os.environ.get("TIDINGS_TIMEOUT_FACTOR")
    if f:
        return float(f)
    return 10.0 if wrapper() else 1.0


SLOW = _slow()


def available():
    """True when the tidingsd binary exists and answers -h."""
    b = binary()
    if not os.access(b, os.X_OK):
        return False
    try:
        r = subprocess.run([b, "-h"], capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"usage" in (r.stdout + r.stderr).lower()


def format_config(sections):
    """Render {section: {key: value}} as the INI text tidingsd reads."""
    out = ["; Written by tests/integration/tidingsd.py."]
    for section, keys in sections.items():
        out.append("")
        out.append("[%s]" % section)
        for k, v in keys.items():
            out.append("%s = %s" % (k, v))
    return "\n".join(out) + "\n"


def write_config(path, sections_or_text, mode=0o600):
    """Write a config file (dict of sections, or raw text) with `mode`."""
    text = sections_or_text if isinstance(sections_or_text, str) \
        else format_config(sections_or_text)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def check_config(path, timeout=10.0):
    """Run `tidingsd -c path -n`; return the CompletedProcess (text)."""
    return subprocess.run(wrapper() + [binary(), "-c", path, "-n"],
                          capture_output=True, text=True, errors="replace",
                          timeout=timeout * SLOW)


class Tidingsd:
    """One tidingsd process with its config, state and log in `tmpdir`.

    `sections` is the config as {section: {key: value}}; it is written to
    <tmpdir>/tidingsd/tidings.conf on start(), with mode `config_mode`
    (0600) and, when `config_gid` is set, that group. Its stderr is
    appended to <tmpdir>/tidingsd/tidingsd.log across restarts.
    """

    config_mode = 0o600
    config_gid = None

    def __init__(self, tmpdir, sections):
        self.dir = os.path.join(str(tmpdir), "tidingsd")
        os.makedirs(self.dir, exist_ok=True)
        self.sections = sections
        self.config_path = os.path.join(self.dir, "tidings.conf")
        self.log_path = os.path.join(self.dir, "tidingsd.log")
        self.proc = None
        self.exit_codes = []

    @property
    def events_socket(self):
        return self.sections["events"]["socket"]

    def write_config(self):
        """Write tidings.conf (start() does)."""
        write_config(self.config_path, self.sections, self.config_mode)
        if self.config_gid is not None:
            os.chown(self.config_path, 0, self.config_gid)

    # -- process control ---------------------------------------------------

    def start(self, wait_connected=True, timeout=10.0):
        """Start tidingsd; wait for the event socket (and, by default, the
        component handshake). Returns the log offset at start."""
        if self.running:
            raise RuntimeError("tidingsd already running")
        self.write_config()
        offset = self.log_size()
        with open(self.log_path, "ab") as log:
            log.write(b"==== tidingsd start ====\n")
            log.flush()
            offset = self.log_size()
            self.proc = subprocess.Popen(
                wrapper() + [binary(), "-c", self.config_path],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=self.dir)
        try:
            self.wait_log("events: listening on", timeout, since=offset)
            if wait_connected:
                self.wait_log("xmpp: connected", timeout, since=offset)
        except RuntimeError:
            self.kill()
            raise
        return offset

    def stop(self, timeout=10.0):
        """SIGTERM and wait; return the exit code (None if not running)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.exit_codes.append("timeout")
                self.proc = None
                return "timeout"
        rc = self.proc.returncode
        self.exit_codes.append(rc)
        self.proc = None
        return rc

    def kill(self):
        """SIGKILL (after SIGCONT, in case it was stopped) and reap."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait()
        self.proc = None

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    # -- log -----------------------------------------------------------------

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except FileNotFoundError:
            return 0

    def log(self, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def count_log(self, needle, since=0):
        return self.log(since).count(needle)

    def wait_log(self, needle, timeout=5.0, since=0, count=1):
        """Wait until `needle` appears `count` times in the log after byte
        `since`. Raises RuntimeError (with the log tail) on timeout or when
        the process exits first."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            if self.count_log(needle, since) >= count:
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    "tidingsd exited (%s) while waiting for %r\n%s"
                    % (self.proc.returncode, needle, self.tail()))
            if time.monotonic() > deadline:
                raise RuntimeError("tidingsd: %r not logged after %.1f s\n%s"
                                   % (needle, timeout * SLOW, self.tail()))
            time.sleep(0.02)

    def tail(self, n=40):
        return "\n".join(self.log().splitlines()[-n:])
