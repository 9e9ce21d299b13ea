"""Dovecot users whose passwords dovecot.py's passwd-file cannot hold.

dovecot.py writes `user:{PLAIN}password:...` lines, so a password with ':'
(or a newline) is refused there. These users go into a second passwd-file
with base64-encoded plain passwords ({PLAIN.B64}, which Dovecot 2.3
verifies like PLAIN), read by an extra passdb and userdb appended to
dovecot.conf (Dovecot(extra_conf=...) or Stack(dovecot_conf=...)): a user
not found in the first passdb is looked up in the next one.
"""

import base64
import grp
import os
import pwd

from dovecot import MAIL_USER, make_traversable


def extra_users_conf(path, users):
    """Write `users` ({address: password}) to the passwd-file `path` and
    return the dovecot.conf text that reads it."""
    with open(path, "w") as f:
        for user, password in users.items():
            if any(c in user for c in ":\n") or "\n" in password:
                raise ValueError("':' or newline in a user name")
            b64 = base64.b64encode(password.encode("utf-8")).decode()
            f.write("%s:{PLAIN.B64}%s::::::\n" % (user, b64))
    os.chown(path, 0, grp.getgrnam("dovecot").gr_gid)
    os.chmod(path, 0o640)
    make_traversable(os.path.dirname(path))
    pw = pwd.getpwnam(MAIL_USER)
    return """
# tests/integration/authusers.py: users with passwords {PLAIN} cannot hold
passdb {
  driver = passwd-file
  args = username_format=%%u %(path)s
}
userdb {
  driver = passwd-file
  args = username_format=%%u %(path)s
  default_fields = uid=%(uid)d gid=%(gid)d home=/nonexistent/%%u
}
""" % {"path": path, "uid": pw.pw_uid, "gid": pw.pw_gid}
