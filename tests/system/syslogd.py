"""A minimal system logger for the sandboxed system tests: receives syslog
datagrams on a UNIX socket (as rsyslog does on /dev/log) and appends each
as one line to a file, flushed at once.

    python3 syslogd.py /dev/log /var/log/mail.log
"""

import os
import re
import socket
import sys

PRI = re.compile(rb"^<\d{1,3}>")


def main():
    path, out = sys.argv[1], sys.argv[2]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    with open(out, "ab", buffering=0) as f:
        while True:
            data = s.recv(65536)
            line = PRI.sub(b"", data).rstrip(b"\n\0").replace(b"\n", b" ")
            f.write(line + b"\n")


if __name__ == "__main__":
    main()
