"""pytest fixtures for the tidings integration suite.

Every test gets fresh servers from `make_stack(...)`: real Dovecot, real
Prosody and tidingsd in a short temporary folder (UNIX socket paths must
stay under 108 bytes) on free loopback ports. On teardown every client is
closed and tidingsd is stopped with SIGTERM; the test then fails unless
tidingsd exited 0 (which also catches sanitizer and valgrind reports, whose
exit codes are non-zero). Set TIDINGS_KEEP=1 to keep the folders.
"""

import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import tidingsd as td  # noqa: E402
from stack import Stack  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.fixture(scope="session")
def tidingsd_binary():
    """The tidingsd under test; fails (not skips) when it is missing."""
    if os.geteuid() != 0:
        pytest.skip("the integration suite runs Dovecot and Prosody as root")
    if not td.available():
        pytest.fail("no working tidingsd at %s (build it, or set "
                    "TIDINGS_BUILD)" % td.binary())
    return td.binary()


@pytest.fixture
def tmpdir_short(request):
    d = tempfile.mkdtemp(prefix="tdi-", dir="/tmp")
    yield d
    if not os.environ.get("TIDINGS_KEEP"):
        shutil.rmtree(d, ignore_errors=True)
    else:
        print("kept %s" % d)


@pytest.fixture
def make_stack(tidingsd_binary, tmpdir_short):
    """Factory: make_stack(notify={...}, start_tidings=True, **Stack kw)
    returns a started Stack. Teardown checks tidingsd's exit codes."""
    stacks = []

    def make(start_tidings=True, **kw):
        d = os.path.join(tmpdir_short, "s%d" % len(stacks))
        st = Stack(d, **kw)
        stacks.append(st)
        st.start(tidings=start_tidings)
        return st

    yield make
    problems = []
    for st in stacks:
        t = st.tidingsd
        was_running = t is not None and t.running
        rc = st.stop()
        if t is None:
            continue
        print("---- tidingsd log (%s) ----\n%s" % (t.log_path, t.tail(60)))
        codes = list(t.exit_codes)
        if was_running and rc != 0:
            problems.append("tidingsd exited %r on SIGTERM at teardown"
                            % (rc,))
        bad = [c for c in codes if c != 0]
        if bad and not problems:
            problems.append("tidingsd exit codes %r (expected all 0)"
                            % (codes,))
        for needle in ("ERROR: AddressSanitizer", "runtime error:",
                       "definitely lost in"):
            if needle in t.log():
                problems.append("tidingsd log contains %r" % needle)
    if problems:
        pytest.fail("; ".join(problems))
