"""A throwaway ejabberd 23.01 (Debian) for the integration tests.

ejabberd runs in the foreground straight from `erl` (FIELD-NOTES.md,
"ejabberd 23.01"): no Erlang node name, so no epmd and no cookie, a fresh
Mnesia spool at every start, stopped with SIGTERM. Its config is two files:

- `etc/ejabberd.yml`, the test's own part: a c2s listener on a free
  loopback port with starttls false (the suite's clients log in over plain
  TCP), mod_disco, mod_roster, mod_offline (plus `extra_modules`), and an
  `include_config_file` of
- `etc/tidings.yml`, the part an admin adds for tidings: hosts,
  auth_method external with extauth_program running tidings-auth on the
  test's tidings.conf (extauth_pool_size 1, auth_use_cache false), the
  ejabberd_service listener for the component, and mod_privilege (roster
  both, presence roster, message outgoing) for it. Pass `tidings_yml` (the
  text of examples/ejabberd/tidings.yml with its values substituted) to
  use that instead; ejabberd merges the two files' listen, acl and modules.

The helper runs under a small shell wrapper that appends "PID start" and
"PID exit CODE" lines to `helper_exits_path`, so that a test can check that
every tidings-auth ejabberd started ended with exit code 0; the helper's
stderr (and any sanitizer report) lands in `stdout_path` with ejabberd's
own console output. ejabberd runs as root here; with `helper_user` the
wrapper starts the helper as that user and its primary group, with no
other groups (setpriv), as Debian's ejabberd (user ejabberd) would.

    ej = Ejabberd(tmpdir, "example.org", "mail.example.org", "secret",
                  helper_cmd=[".../tidings-auth", "-c", ".../tidings.conf"])
    ej.start()          # waits until both ports accept connections
    ...
    ej.stop()           # SIGTERM; waits for the helpers to exit
    ej.helper_exit_codes()
"""

import json
import os
import pwd
import shlex
import shutil
import subprocess
import time

import procutil
import tidingsd as td
from procutil import free_port, port_is_free, wait_port

ERL = "/usr/bin/erl"
# ejabberd's Erlang applications (ejabberd, p1_*, ...) live here; erl finds
# them only through ERL_LIBS.
ERL_LIBS = "/usr/lib/x86_64-linux-gnu"


def tidings_auth_binary():
    """The tidings-auth under test: $TIDINGS_BUILD/bridge/tidings-auth."""
    return os.path.join(td.build_dir(), "bridge", "tidings-auth")


def available():
    """True when Debian's ejabberd package is installed."""
    return os.path.exists(ERL) and any(
        d.startswith("ejabberd-") for d in os.listdir(ERL_LIBS))


def q(s):
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(str(s))


def tidings_yml(domains, component_jid, component_port, secret,
                extauth_program, pool_size=1):
    """The tidings part of the config (what examples/ejabberd/tidings.yml
    says), generated for a test."""
    lines = [
        "# Written by tests/integration/ejabberd.py: the part an admin adds "
        "for tidings.",
        "hosts:",
    ]
    lines += ["  - %s" % q(d) for d in domains]
    lines += [
        "auth_method: external",
        "extauth_program: %s" % q(extauth_program),
        "extauth_pool_size: %d" % pool_size,
        "auth_use_cache: false",
        "listen:",
        "  - port: %d" % component_port,
        "    ip: \"127.0.0.1\"",
        "    module: ejabberd_service",
        "    hosts:",
        "      %s:" % q(component_jid),
        "        password: %s" % q(secret),
        "acl:",
        "  tidings:",
        "    server: %s" % q(component_jid),
        "access_rules:",
        "  tidings:",
        "    allow: tidings",
        "modules:",
        "  mod_privilege:",
        "    roster:",
        "      both: tidings",
        "    message:",
        "      outgoing: tidings",
        "    presence:",
        "      roster: tidings",
    ]
    return "\n".join(lines) + "\n"


class Ejabberd:
    """One ejabberd serving `domain` (and `extra_domains`) with the
    component `component_jid`, users checked by tidings-auth.

    Ports are chosen at construction (pass c2s_port/component_port to pin
    them) and stay the same across restart(). `helper_cmd` is the
    tidings-auth command line (a list); `extra_modules` maps more module
    names to their options (dicts, written as JSON flow maps).
    `tidings_yml_text`: the tidings part as text, or a function of this
    object returning it (it may use c2s_port, component_port and
    extauth_program); None: tidings_yml() for this server. `helper_user`:
    run the helper as this user (see the module docstring).
    """

    def __init__(self, tmpdir, domain, component_jid, component_secret,
                 helper_cmd, c2s_port=None, component_port=None,
                 extra_domains=(), extra_modules=None, tidings_yml_text=None,
                 loglevel="info", helper_user=None):
        self.dir = os.path.join(str(tmpdir), "ejabberd")
        self.etc = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "spool")
        self.log_dir = os.path.join(self.dir, "log")
        for d in (self.etc, self.log_dir):
            os.makedirs(d, exist_ok=True)
        self.domain = domain
        self.domains = [domain] + list(extra_domains)
        self.component_jid = component_jid
        self.component_secret = component_secret
        self.helper_cmd = list(helper_cmd)
        self.helper_user = helper_user
        self.c2s_port = c2s_port or free_port()
        self.component_port = component_port or free_port()
        self.extra_modules = dict(extra_modules or {})
        self.loglevel = loglevel
        self.config_path = os.path.join(self.etc, "ejabberd.yml")
        self.tidings_yml_path = os.path.join(self.etc, "tidings.yml")
        self.log_path = os.path.join(self.log_dir, "ejabberd.log")
        self.stdout_path = os.path.join(self.log_dir, "console.log")
        self.helper_exits_path = os.path.join(self.log_dir, "helper-exits")
        self.wrapper_path = os.path.join(self.dir, "tidings-auth.sh")
        self.proc = None
        self._write_wrapper()
        if tidings_yml_text is None:
            tidings_yml_text = tidings_yml(
                self.domains, component_jid, self.component_port,
                component_secret, self.extauth_program)
        elif callable(tidings_yml_text):
            tidings_yml_text = tidings_yml_text(self)
        self.tidings_yml_text = tidings_yml_text
        self._write_config()

    @property
    def extauth_program(self):
        """The command ejabberd runs (through /bin/sh -c) for extauth."""
        return " ".join(shlex.quote(a)
                        for a in [self.wrapper_path] + self.helper_cmd)

    def _write_wrapper(self):
        run = ""
        if self.helper_user is not None:
            pw = pwd.getpwnam(self.helper_user)
            run = "%s --reuid=%d --regid=%d --clear-groups " % (
                shutil.which("setpriv") or "/usr/bin/setpriv", pw.pw_uid,
                pw.pw_gid)
        with open(self.wrapper_path, "w") as f:
            f.write("#!/bin/sh\n"
                    "# Written by tests/integration/ejabberd.py: runs "
                    "tidings-auth, records its exit code.\n"
                    "echo \"$$ start\" >> %(x)s\n"
                    "%(run)s\"$@\"\n"
                    "rc=$?\n"
                    "echo \"$$ exit $rc\" >> %(x)s\n"
                    "exit $rc\n" % {"x": shlex.quote(self.helper_exits_path),
                                    "run": run})
        os.chmod(self.wrapper_path, 0o755)

    def _write_config(self):
        lines = [
            "# Written by tests/integration/ejabberd.py; tests only.",
            "loglevel: %s" % self.loglevel,
            "log_rotate_count: 0",
            "listen:",
            "  - port: %d" % self.c2s_port,
            "    ip: \"127.0.0.1\"",
            "    module: ejabberd_c2s",
            "    starttls: false",
            "    max_stanza_size: 262144",
            "modules:",
            "  mod_disco: {}",
            "  mod_roster: {}",
            "  mod_offline: {}",
        ]
        for name, opts in self.extra_modules.items():
            lines.append("  %s: %s" % (name, json.dumps(opts or {})))
        lines.append("include_config_file: %s" % q(self.tidings_yml_path))
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(self.tidings_yml_path, "w") as f:
            f.write(self.tidings_yml_text)

    # -- lifecycle -----------------------------------------------------

    def start(self, timeout=30.0):
        """Start ejabberd on a fresh spool; wait until both ports accept."""
        if self.running:
            raise RuntimeError("ejabberd already running")
        for p in (self.c2s_port, self.component_port):
            if not port_is_free(p):
                raise RuntimeError("ejabberd: port %d is already in use" % p)
        # The Mnesia database belongs to one node name: start afresh.
        shutil.rmtree(self.spool, ignore_errors=True)
        os.makedirs(self.spool)
        env = dict(os.environ)
        env.update({
            "HOME": self.dir,
            "EJABBERD_CONFIG_PATH": self.config_path,
            "EJABBERD_LOG_PATH": self.log_path,
            "ERL_CRASH_DUMP": os.path.join(self.log_dir, "erl_crash.dump"),
            "ERL_LIBS": ERL_LIBS,
        })
        out = open(self.stdout_path, "ab")
        out.write(b"==== ejabberd start ====\n")
        out.flush()
        self.proc = subprocess.Popen(
            [ERL, "-noinput", "-mnesia", "dir", '"%s"' % self.spool,
             "-s", "ejabberd"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=self.spool, env=env, start_new_session=True)
        out.close()
        try:
            wait_port(self.c2s_port, timeout, self.proc, "ejabberd")
            wait_port(self.component_port, timeout, self.proc, "ejabberd")
        except RuntimeError as e:
            self.stop()
            raise RuntimeError("%s\n--- console ---\n%s\n--- log ---\n%s"
                               % (e, self._tail(self.stdout_path),
                                  self._tail(self.log_path)))
        return self

    def stop(self, timeout=15.0):
        """SIGTERM and wait; then wait (a little) until every helper that
        was started has exited (they see the end of their input)."""
        procutil.stop_process(self.proc, timeout)
        self.proc = None
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            starts, exits = self._helper_lines()
            if len(exits) >= len(starts):
                break
            time.sleep(0.05)

    def restart(self):
        self.stop()
        self.start()

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # -- what happened -------------------------------------------------

    def _helper_lines(self):
        try:
            with open(self.helper_exits_path) as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            return [], []
        starts = [x for x in lines if x.endswith(" start")]
        exits = [x for x in lines if " exit " in x]
        return starts, exits

    def helper_starts(self):
        """How many tidings-auth processes ejabberd started."""
        return len(self._helper_lines()[0])

    def helper_uids(self):
        """The real and effective uids of the helpers running now (the
        children of the wrappers that have not exited), as
        {pid: (ruid, euid)}."""
        starts, exits = self._helper_lines()
        gone = {x.split()[0] for x in exits}
        out = {}
        for w in (x.split()[0] for x in starts):
            if w in gone:
                continue
            try:
                with open("/proc/%s/task/%s/children" % (w, w)) as f:
                    kids = f.read().split()
            except FileNotFoundError:
                continue
            for pid in kids:
                with open("/proc/%s/status" % pid) as f:
                    for line in f:
                        if line.startswith("Uid:"):
                            ids = line.split()[1:3]
                            out[int(pid)] = (int(ids[0]), int(ids[1]))
        return out

    def helper_exit_codes(self):
        """The exit codes of the tidings-auth processes that ended, and
        how many are still running (or were killed)."""
        starts, exits = self._helper_lines()
        codes = [int(x.rsplit(" ", 1)[1]) for x in exits]
        return codes, len(starts) - len(exits)

    def log(self):
        """ejabberd's own log so far."""
        return self._read(self.log_path)

    def console(self):
        """erl's stdout and stderr: tidings-auth's log lines are here."""
        return self._read(self.stdout_path)

    def wait_console(self, needle, timeout=10.0):
        """Wait until `needle` appears in the console output."""
        self._wait(self.console, self.stdout_path, needle, timeout)

    def wait_log(self, needle, timeout=10.0):
        """Wait until `needle` appears in ejabberd's log (written a moment
        after the fact)."""
        self._wait(self.log, self.log_path, needle, timeout)

    def _wait(self, read, path, needle, timeout):
        deadline = time.monotonic() + timeout * td.SLOW
        while needle not in read():
            if time.monotonic() > deadline:
                raise RuntimeError("ejabberd: %r not seen in %s after "
                                   "%.1f s\n%s" % (needle, path, timeout,
                                                   self._tail(path)))
            time.sleep(0.05)

    def problems(self):
        """What a test must not leave behind: helpers that did not exit 0,
        sanitizer reports or crashes in the console, replies ejabberd could
        not read."""
        out = []
        codes, running = self.helper_exit_codes()
        if running:
            out.append("%d tidings-auth still running after ejabberd "
                       "stopped" % running)
        bad = [c for c in codes if c != 0]
        if bad:
            out.append("tidings-auth exit codes %r" % (bad,))
        console = self.console()
        for needle in ("ERROR: AddressSanitizer", "runtime error:",
                       "LeakSanitizer", "definitely lost in"):
            if needle in console:
                out.append("ejabberd console contains %r" % needle)
        if "unexpected response from external authentication" in self.log():
            out.append("ejabberd could not read a reply of tidings-auth")
        return out

    @staticmethod
    def _read(path):
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    @staticmethod
    def _tail(path, n=40):
        try:
            with open(path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except FileNotFoundError:
            return "(none)"
