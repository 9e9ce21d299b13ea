"""A throwaway Prosody 0.12 for the integration tests.

Prosody runs in the foreground (`prosody -F --config FILE`) from a private
config in a temporary directory, on free loopback ports, authenticating its
users against Dovecot through mod_auth_dovecot (so a mailbox and its JID share
one password), with the tidings component allowed in and, when `privileged`,
granted XEP-0356 privileges through mod_privilege.

Client connections offer STARTTLS with a certificate made at construction by
the `openssl` command: a private CA (`certs/ca/ca.pem`, with the hash link
OpenSSL's capath lookup needs; its key is deleted once it has signed) and a
certificate for the served domain and the component's domain
(`certs/<domain>.crt`, key `certs/<domain>.key`, mode 0600), the names
Prosody's `certificates` folder convention looks for. Clients that trust
`ca_file` (or the folder `ca_dir`) can verify the server properly. With
tls="offer" (the default) plain-TCP logins stay possible for the suite's own
clients; tls="require" (the demo) refuses to authenticate before STARTTLS,
like a real deployment.

The small port helpers used by the whole suite live here too.
"""

import os
import secrets
import subprocess

import procutil
from procutil import free_port, port_is_free, wait_port  # noqa: F401

PROSODY = "/usr/bin/prosody"

# Debian's prosody-modules installs mod_auth_dovecot one folder deeper than
# Prosody's loader looks (mod_auth_dovecot/auth_dovecot/mod_auth_dovecot.lua),
# so that folder must be named in plugin_paths.
AUTH_DOVECOT_DIR = "/usr/lib/prosody/modules/mod_auth_dovecot/auth_dovecot"

# The openssl command comes with dovecot-core (a Depends in Debian 12).
OPENSSL = "openssl"

# Extensions for the CA and for the server certificate. The server
# certificate names its hosts in subjectAltName only (what TLS clients and
# Prosody's certificate index read); ECDSA P-256 keys are quick to make.
_CERT_EXTENSIONS = """\
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = %s
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

CERT_DAYS = 365


def _openssl(*args):
    """Run the openssl command; raise RuntimeError with its output."""
    r = subprocess.run([OPENSSL] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed (exit %d):\n%s"
                           % (args[0], r.returncode, r.stdout))
    return r.stdout


def _serial():
    return "0x" + secrets.token_hex(16)


def _ca_hash_link(ca_file):
    """The name OpenSSL looks the CA up by in a capath folder."""
    h = _openssl("x509", "-in", ca_file, "-noout", "-hash").strip()
    return os.path.join(os.path.dirname(ca_file), h + ".0")


def _certs_usable(ca_file, cert_file, key_file, names):
    """True when earlier certificates can be reused: all files there, the
    certificate signed by the CA, valid for another day, and naming every
    host in `names`."""
    if not all(os.path.isfile(f) for f in (ca_file, cert_file, key_file)):
        return False
    try:
        _openssl("verify", "-CAfile", ca_file, cert_file)
        _openssl("x509", "-in", cert_file, "-noout", "-checkend", "86400")
        for n in names:
            out = _openssl("x509", "-in", cert_file, "-noout",
                           "-checkhost", n)
            if "does match" not in out:
                return False
        if not os.path.isfile(_ca_hash_link(ca_file)):
            return False
    except RuntimeError:
        return False
    return True


def make_certificates(certs_dir, names):
    """Make a private CA and a server certificate for `names` (the first
    is the served domain) in `certs_dir`, unless usable ones are there.

    Returns (ca_file, cert_file, key_file). ca_file is `ca/ca.pem`, with
    a `<hash>.0` link to it beside it so that the folder also works as an
    OpenSSL capath (profanity's `/tls certpath set`). The CA's key is
    deleted once it has signed, so no other certificate can ever chain to
    ca_file. The server key is mode 0600 (Prosody runs as root in the tests
    and in the demo); the certificates are 0644.
    """
    ca_dir = os.path.join(certs_dir, "ca")
    os.makedirs(ca_dir, mode=0o755, exist_ok=True)
    os.chmod(certs_dir, 0o755)
    ca_file = os.path.join(ca_dir, "ca.pem")
    cert_file = os.path.join(certs_dir, "%s.crt" % names[0])
    key_file = os.path.join(certs_dir, "%s.key" % names[0])
    if _certs_usable(ca_file, cert_file, key_file, names):
        return ca_file, cert_file, key_file
    ext = os.path.join(certs_dir, "extensions.cnf")
    ca_key = os.path.join(certs_dir, "ca.key")
    csr = os.path.join(certs_dir, "%s.csr" % names[0])
    with open(ext, "w") as f:
        f.write(_CERT_EXTENSIONS
                % ", ".join("DNS:%s" % n for n in names))
    old_umask = os.umask(0o077)
    try:
        _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key,
                 "-out", ca_file, "-days", str(CERT_DAYS), "-subj",
                 "/O=tidings/CN=tidings test CA for %s" % names[0],
                 "-config", ext, "-extensions", "ca",
                 "-set_serial", _serial())
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", key_file,
                 "-out", csr, "-subj", "/CN=%s" % names[0],
                 "-config", ext)
        _openssl("x509", "-req", "-in", csr, "-CA", ca_file,
                 "-CAkey", ca_key, "-set_serial", _serial(),
                 "-days", str(CERT_DAYS), "-extfile", ext,
                 "-extensions", "leaf", "-out", cert_file)
    finally:
        os.umask(old_umask)
        for f in (ca_key, csr, ext):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass
    os.chmod(key_file, 0o600)
    os.chmod(ca_file, 0o644)
    os.chmod(cert_file, 0o644)
    for f in os.listdir(ca_dir):
        if f.endswith(".0") and os.path.islink(os.path.join(ca_dir, f)):
            os.unlink(os.path.join(ca_dir, f))
    os.symlink("ca.pem", _ca_hash_link(ca_file))
    return ca_file, cert_file, key_file


def cert_fingerprint(cert_file, digest="sha256"):
    """The certificate's fingerprint as openssl prints it (AA:BB:...)."""
    out = _openssl("x509", "-in", cert_file, "-noout", "-fingerprint",
                   "-" + digest)
    return out.strip().split("=", 1)[1]


def _lua_str(s):
    """Quote a Python string as a Lua string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Prosody:
    """One Prosody serving `domain` (and `extra_domains`, each a VirtualHost
    of its own with the same privileges), with the component
    `component_jid`.

    Ports are chosen at construction (pass c2s_port/component_port to pin
    them) and stay the same across restart(), so tidingsd and clients can
    reconnect to the same address. The data directory also survives a
    restart, so offline messages are kept, and so do the certificates.

    tls: "offer" (STARTTLS offered, plain-TCP logins allowed: the suite's
    own clients), "require" (c2s_require_encryption: no login before
    STARTTLS, as real clients expect; the demo) or "off" (no STARTTLS at
    all; only for checking that a client refuses to log in without it).
    The CA that signed the server certificate is `ca_file`, in the
    capath folder `ca_dir`.
    """

    TLS_MODES = ("offer", "require", "off")

    def __init__(self, tmpdir, domain, component_jid, component_secret,
                 dovecot_auth_socket, privileged=True, c2s_port=None,
                 component_port=None, log_level="info", tls="offer",
                 extra_domains=()):
        if tls not in self.TLS_MODES:
            raise ValueError("tls must be one of %r" % (self.TLS_MODES,))
        self.dir = os.path.join(str(tmpdir), "prosody")
        self.data_path = os.path.join(self.dir, "data")
        self.certs_dir = os.path.join(self.dir, "certs")
        os.makedirs(self.data_path, exist_ok=True)
        os.makedirs(self.certs_dir, exist_ok=True)
        self.domain = domain
        self.extra_domains = list(extra_domains)
        self.component_jid = component_jid
        self.component_secret = component_secret
        self.dovecot_auth_socket = dovecot_auth_socket
        self.privileged = privileged
        self.c2s_port = c2s_port or free_port()
        self.component_port = component_port or free_port()
        self.log_level = log_level
        self.tls = tls
        self.ca_file, self.cert_file, self.key_file = make_certificates(
            self.certs_dir, [domain, component_jid] + self.extra_domains)
        self.ca_dir = os.path.dirname(self.ca_file)
        self.config_path = os.path.join(self.dir, "prosody.cfg.lua")
        self.pidfile = os.path.join(self.dir, "prosody.pid")
        self.log_path = os.path.join(self.dir, "prosody.log")
        self.stdout_path = os.path.join(self.dir, "prosody.stdout")
        self.proc = None
        self._write_config()

    def _write_config(self):
        modules = ["roster", "saslauth", "disco", "ping", "offline",
                   "carbons", "mam", "posix"]
        if self.tls != "off":
            modules.append("tls")
        if self.privileged:
            modules.append("privilege")
        require = self.tls == "require"
        ssl = "    ssl = { certificate = %s, key = %s }" % (
            _lua_str(self.cert_file), _lua_str(self.key_file))
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
            "c2s_require_encryption = %s" % ("true" if require else "false"),
            "s2s_require_encryption = false",
            "allow_unencrypted_plain_auth = %s"
            % ("false" if require else "true"),
            "authentication = \"dovecot\"",
            "dovecot_auth_socket = %s" % _lua_str(self.dovecot_auth_socket),
            "auth_append_host = true",
            "storage = \"internal\"",
            "archive_expires_after = \"1d\"",
            "modules_enabled = { %s }"
            % ", ".join(_lua_str(m) for m in modules),
            "modules_disabled = { \"s2s\" }",
        ]
        for host in [self.domain] + self.extra_domains:
            lines += ["", "VirtualHost %s" % _lua_str(host), ssl]
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
            ssl,
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
