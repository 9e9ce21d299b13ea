"""A throwaway Prosody 0.12 for the integration tests.

Prosody runs in the foreground (`prosody -F --config FILE`) from a private
config in a temporary directory, on free loopback ports, authenticating its
users against Dovecot through mod_auth_dovecot (so a mailbox and its JID share
one password), with the tidings component allowed in and, when `privileged`,
granted XEP-0356 privileges through mod_privilege.

The small port helpers used by the whole suite live here too.
"""

import os
import subprocess

import procutil
from procutil import free_port, port_is_free, wait_port  # noqa: F401

PROSODY = "/usr/bin/prosody"

# Debian's prosody-modules installs mod_auth_dovecot one folder deeper than
# Prosody's loader looks (mod_auth_dovecot/auth_dovecot/mod_auth_dovecot.lua),
# so that folder must be named in plugin_paths.
AUTH_DOVECOT_DIR = "/usr/lib/prosody/modules/mod_auth_dovecot/auth_dovecot"


def _lua_str(s):
    """Quote a Python string as a Lua string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Prosody:
    """One Prosody serving `domain`, with the component `component_jid`.

    Ports are chosen at construction (pass c2s_port/component_port to pin
    them) and stay the same across restart(), so tidingsd and clients can
    reconnect to the same address. The data directory also survives a
    restart, so offline messages are kept.
    """

    def __init__(self, tmpdir, domain, component_jid, component_secret,
                 dovecot_auth_socket, privileged=True, c2s_port=None,
                 component_port=None, log_level="info"):
        self.dir = os.path.join(str(tmpdir), "prosody")
        self.data_path = os.path.join(self.dir, "data")
        self.certs_dir = os.path.join(self.dir, "certs")
        os.makedirs(self.data_path, exist_ok=True)
        os.makedirs(self.certs_dir, exist_ok=True)
        self.domain = domain
        self.component_jid = component_jid
        self.component_secret = component_secret
        self.dovecot_auth_socket = dovecot_auth_socket
        self.privileged = privileged
        self.c2s_port = c2s_port or free_port()
        self.component_port = component_port or free_port()
        self.log_level = log_level
        self.config_path = os.path.join(self.dir, "prosody.cfg.lua")
        self.pidfile = os.path.join(self.dir, "prosody.pid")
        self.log_path = os.path.join(self.dir, "prosody.log")
        self.stdout_path = os.path.join(self.dir, "prosody.stdout")
        self.proc = None
        self._write_config()

    def _write_config(self):
        modules = ["roster", "saslauth", "disco", "ping", "offline",
                   "carbons", "mam", "posix"]
        if self.privileged:
            modules.append("privilege")
        lines = [
            "-- Written by tests/integration/prosody.py; tests only.",
            "daemonize = false",
            "run_as_root = true",
            "pidfile = %s" % _lua_str(self.pidfile),
            "certificates = %s" % _lua_str(self.certs_dir),
            "data_path = %s" % _lua_str(self.data_path),
            "plugin_paths = { %s }" % _lua_str(AUTH_DOVECOT_DIR),
            "log = { { levels = { min = %s }, to = \"file\", filename = %s } }"
            % (_lua_str(self.log_level), _lua_str(self.log_path)),
            "interfaces = { \"127.0.0.1\" }",
            "c2s_ports = { %d }" % self.c2s_port,
            "c2s_interfaces = { \"127.0.0.1\" }",
            "c2s_direct_tls_ports = { }",
            "legacy_ssl_ports = { }",
            "s2s_ports = { }",
            "s2s_direct_tls_ports = { }",
            "http_ports = { }",
            "https_ports = { }",
            "component_ports = { %d }" % self.component_port,
            "component_interfaces = { \"127.0.0.1\" }",
            "c2s_require_encryption = false",
            "s2s_require_encryption = false",
            "allow_unencrypted_plain_auth = true",
            "authentication = \"dovecot\"",
            "dovecot_auth_socket = %s" % _lua_str(self.dovecot_auth_socket),
            "auth_append_host = true",
            "storage = \"internal\"",
            "archive_expires_after = \"1d\"",
            "modules_enabled = { %s }"
            % ", ".join(_lua_str(m) for m in modules),
            "modules_disabled = { \"s2s\" }",
            "",
            "VirtualHost %s" % _lua_str(self.domain),
        ]
        if self.privileged:
            lines += [
                "    privileged_entities = {",
                "        [%s] = {" % _lua_str(self.component_jid),
                "            roster = \"both\";",
                "            message = \"outgoing\";",
                "            presence = \"roster\";",
                "        };",
                "    }",
            ]
        lines += [
            "",
            "Component %s" % _lua_str(self.component_jid),
            "    component_secret = %s" % _lua_str(self.component_secret),
        ]
        if self.privileged:
            lines.append("    modules_enabled = { \"privilege\" }")
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=15.0):
        """Start Prosody and wait until both ports accept connections."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("prosody already running")
        for p in (self.c2s_port, self.component_port):
            if not port_is_free(p):
                raise RuntimeError("prosody: port %d is already in use" % p)
        log_offset = len(self.log())
        out = open(self.stdout_path, "ab")
        self.proc = subprocess.Popen(
            [PROSODY, "-F", "--config", self.config_path],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=self.dir, start_new_session=True)
        out.close()
        try:
            wait_port(self.c2s_port, timeout, self.proc, "prosody")
            wait_port(self.component_port, timeout, self.proc, "prosody")
            # mod_auth_dovecot connects to Dovecot when it loads; without
            # it every login would fail later with a confusing message.
            new_log = self.log()[log_offset:]
            if "Error initializing module 'auth_dovecot'" in new_log:
                raise RuntimeError("prosody: mod_auth_dovecot failed to load "
                                   "(is Dovecot's auth-client socket at %s?)"
                                   % self.dovecot_auth_socket)
        except RuntimeError as e:
            self.stop()
            raise RuntimeError(
                "%s\n--- prosody output ---\n%s\n--- log ---\n%s"
                % (e, self._tail(self.stdout_path), self._tail(self.log_path)))

    def stop(self, timeout=10.0):
        """Stop Prosody with SIGTERM (SIGKILL after `timeout`)."""
        procutil.stop_process(self.proc, timeout)
        self.proc = None

    def restart(self):
        """Stop and start again on the same ports with the same data."""
        self.stop()
        self.start()

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        """The whole Prosody log so far, as text."""
        try:
            with open(self.log_path, errors="replace") as f:
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
