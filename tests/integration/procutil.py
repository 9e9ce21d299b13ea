"""Small helpers every server fixture needs: loopback ports and stopping a
process. Used by dovecot.py, prosody.py and the suites built on them."""

import signal
import socket
import subprocess
import time


def free_port():
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port):
    """True when nothing listens on 127.0.0.1:port and it can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_port(port, timeout=10.0, proc=None, what="server"):
    """Wait until 127.0.0.1:port accepts TCP connections.

    Raises RuntimeError on timeout or when `proc` exits meanwhile.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s before port %d opened"
                               % (what, proc.returncode, port))
        if time.monotonic() > deadline:
            raise RuntimeError("%s: port %d not open after %.1f s"
                               % (what, port, timeout))
        time.sleep(0.02)


def stop_process(proc, timeout=10.0):
    """SIGTERM proc and wait for it; SIGKILL after `timeout` seconds.

    Returns its exit code; None when proc is None.
    """
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
