#!/usr/bin/env bash
# The admin path of README.md ("Plugging tidings into existing servers"),
# followed as written on Debian's stock configs, in a throwaway sandbox
# (tests/system/sandbox.sh: an overlay of this machine, its own network, no
# systemd). As root:
#
#   tests/system/test_admin_path.sh [--build DIR | --debs DIR] [--driver native|lua]
#
#   --build DIR  install from source: `meson install -C DIR` of a build made
#                here (default: the build folder of this tree; built first
#                with ninja, so nothing is compiled inside the sandbox)
#   --debs DIR   install the packages instead: DIR holds
#                tidings_*_amd64.deb and dovecot-tidings_*_amd64.deb
#                (dpkg-buildpackage's output), installed with the README's
#                `apt install ./...`
#   --driver     the Dovecot push driver to set up (default: native; with
#                --debs only native)
#
# Inside the sandbox (admin_path_inner.sh): Dovecot's and Prosody's stock
# Debian configs are put back, then made into an existing site (virtual
# users in a passwd-file, mail owned by vmail in /var/vmail, Prosody
# serving the domain with its own accounts); then every README block marked
# `<!-- admin-path: NAME -->` that applies is run, in order, in one root
# shell; then a user logs in to XMPP with the mail password, a mail
# delivered over LMTP is notified, and the logs and processes are checked.
# The notification must leave tidingsd's info line in syslog
# (TIDINGS_ADMIN_NOTIFY_LOG=REGEX changes the pattern; DOMAIN stands for
# the test domain).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

mode=source
build=$top/build
debs=
driver=native
while [ $# -gt 0 ]; do
	case $1 in
	--build) mode=source; build=$(cd "$2" && pwd); shift 2 ;;
	--debs) mode=debs; debs=$(cd "$2" && pwd); shift 2 ;;
	--driver) driver=$2; shift 2 ;;
	*) echo "usage: $0 [--build DIR | --debs DIR] [--driver native|lua]" >&2; exit 2 ;;
	esac
done
case $driver in native | lua) ;; *) echo "--driver native or lua" >&2; exit 2 ;; esac
# With the packages the README's Lua path installs tidings alone; this
# test installs both packages, so the native driver.
[ $mode = source ] || [ $driver = native ] ||
	{ echo "--debs goes with --driver native" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "test_admin_path: needs root" >&2; exit 2; }

binds=()
if [ $mode = source ]; then
	[ -f "$build/build.ninja" ] || { echo "no meson build in $build" >&2; exit 2; }
	# Built here, so that `meson install` inside finds nothing to compile.
	ninja -C "$build" >/dev/null
else
	ls "$debs"/tidings_*_amd64.deb "$debs"/dovecot-tidings_*_amd64.deb >/dev/null
	binds=(-b "$debs:/tmp/tidings-debs")
fi

exec "$here/sandbox.sh" "${binds[@]}" \
	/bin/bash "$here/admin_path_inner.sh" "$top" "$mode" "$build" "$driver"
