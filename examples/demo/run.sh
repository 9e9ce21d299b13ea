#!/bin/sh
# The tidings demo in one command, as root on a fresh Debian 12:
#
#   sh examples/demo/run.sh [--dir DIR]
#
# Installs what is needed to build and run tidings, builds it (meson, ninja)
# and starts a private Dovecot, Prosody and tidingsd for the domain
# "localhost" with the users alice, bob and carol (password "tidings") on
# 127.0.0.1: XMPP 5222, IMAP 1143, LMTP 2424. It stays in the foreground
# until Ctrl-C; nothing is installed as a system service and the system's
# own Dovecot and Prosody (if any) are left alone.
set -eu

cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh: run me as root (it installs packages and starts Dovecot and Prosody privately)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
	meson ninja-build pkg-config gcc libc6-dev \
	libuv1-dev libstrophe-dev libetpan-dev libexpat1-dev libssl-dev \
	libsqlite3-dev libjansson-dev \
	dovecot-core dovecot-imapd dovecot-lmtpd \
	prosody prosody-modules lua-socket \
	python3 python3-slixmpp

# The packages start system-wide Dovecot and Prosody on the standard ports;
# the demo uses its own ports, so they do not collide, but they are not
# needed either.

if [ ! -d build ]; then
	meson setup build
fi
ninja -C build

exec /usr/bin/python3 tests/integration/stack.py --demo "$@"
