#!/bin/sh
# The tidings demo in one command, as root on a fresh Debian 12:
#
#   sh examples/demo/run.sh [--dir DIR]
#
# Installs what is needed to build and run tidings, builds it (meson, ninja)
# and starts a private Dovecot, Prosody, Postfix and tidingsd for the domain
# "localhost" with the users alice, bob and carol (password "tidings") on
# 127.0.0.1: XMPP 5222, IMAP 1143, LMTP 2424, SMTP 2525 (Postfix, which
# delivers to that Dovecot; tidingsd sends mail from chat through it; the
# system's Postfix, if any, is left alone). XMPP requires STARTTLS, as
# real clients do; the certificate comes from a CA made at start, and the
# banner says where it is and how profanity or go-sendxmpp trust it. It
# stays in the foreground until Ctrl-C; nothing is installed as a system
# service and the system's own Dovecot and Prosody (if any) are left alone.
set -eu

cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh: run me as root (it installs packages and starts Dovecot, Prosody and Postfix privately)" >&2
	exit 1
fi

# One list of packages for the demo, the tests and CI: tests/deps.sh.
. tests/deps.sh
tidings_install_deps run

# Bursts of mail need a datagram queue longer than Linux's default of 10
# (README, "Plugging tidings into existing servers").
sysctl -qw net.unix.max_dgram_qlen=4096 2>/dev/null ||
	echo "run.sh: could not raise net.unix.max_dgram_qlen (continuing)" >&2

if [ ! -d build ]; then
	meson setup build
fi
ninja -C build

exec /usr/bin/python3 tests/integration/stack.py --demo "$@"
