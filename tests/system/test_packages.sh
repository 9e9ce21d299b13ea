#!/usr/bin/env bash
# The Debian packages, end to end on this machine (as root):
# 1. build tidings and dovecot-tidings with dpkg-buildpackage out of a clean
#    copy of the tree (the tree's own build folders are left alone),
# 2. lintian on the .changes (errors fail, warnings are shown),
# 3. in a throwaway root (tests/system/sandbox.sh, no network, no systemd):
#    apt-get install ./tidings_*.deb ./dovecot-tidings_*.deb, then check the
#    binaries, user and group, config owner and mode, tmpfiles and sysctl,
#    the init script (tidingsd starts as tidings, makes its sockets,
#    stops), the unit (systemd-analyze verify), the Dovecot plugin (stock
#    Dovecot config loads it and it sends an event), and that
#    `apt-get purge` leaves only /var/lib/tidings and the tidings user.
# The end-to-end notification test against the installed package is
# elsewhere. Needs the Build-Depends of debian/control, debhelper and
# lintian (tests/deps.sh).
#   tests/system/test_packages.sh            all of the above
#   tests/system/test_packages.sh --inside D (run by 3. in the sandbox, with
#                                             the .deb files in D)
# Environment: DEB_BUILD_OPTIONS (default "nocheck parallel=2": the unit
# tests run in their own CI step), TIDINGS_PKG_KEEP=1 keeps the work folder,
# TIDINGS_PKG_OUT=DIR copies the two packages there.
set -euo pipefail

fail() {
	echo "test_packages: FAIL: $*" >&2
	exit 1
}
note() { echo "test_packages: $*"; }

# --- 3. inside the sandbox -------------------------------------------------

# Every path below these folders, for the before/after comparison of
# apt-get purge. Left out: package-manager bookkeeping and caches, and
# what the test's own Dovecot run makes (/run/dovecot, /var/lib/dovecot),
# adduser's lock file and systemd-analyze's scratch files (/run/systemd).
snapshot() {
	find /etc /usr /lib /opt /srv /var /run -xdev 2>/dev/null |
		grep -Ev '^/var/(lib/(dpkg|apt|ucf|man-db|dovecot)|cache|log|backups|tmp)(/|$)|^/etc/(ld\.so\.cache|passwd-|group-|shadow-|gshadow-|subuid-|subgid-)$|^/run/(lock|utmp|dovecot|adduser|systemd)(/|$)' |
		sort
}

wait_for() { # seconds, command...: true once the command succeeds
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

daemon_pid() { # the pid in tidingsd's pid file, if that process runs
	local pid
	pid=$(cat /run/tidings/tidingsd.pid 2>/dev/null) || return 1
	[ -n "$pid" ] && [ -d "/proc/$pid" ] && echo "$pid"
}

not_running() { ! pgrep -x tidingsd >/dev/null; }

inside() {
	local pkgdir=$1
	cd "$pkgdir"
	export DEBIAN_FRONTEND=noninteractive
	local debs=("$pkgdir"/tidings_*.deb "$pkgdir"/dovecot-tidings_*.deb)
	[ -f "${debs[0]}" ] && [ -f "${debs[1]}" ] || fail "no .deb files in $pkgdir"

	# Maintainer scripts may stop services (prerm stops tidingsd on
	# removal) but start none in here: a policy-rc.d of the sandbox's own
	# (this machine may have a Docker one that denies even stop).
	printf '#!/bin/sh\nfor a; do [ "$a" = stop ] && exit 0; done\nexit 101\n' \
		>/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d

	# Debian's dovecot-core links ssl-cert's snakeoil certificate, when
	# there is one; without it, stock Dovecot (ssl = yes) does not start.
	if [ ! -e /etc/dovecot/private/dovecot.pem ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
			-keyout /etc/dovecot/private/dovecot.key \
			-out /etc/dovecot/private/dovecot.pem 2>/dev/null
	fi

	snapshot >/tmp/before

	# Everything the packages need is installed on this machine already
	# (and the sandbox has no network): apt must not want anything else.
	local extra
	extra=$(apt-get -s install "${debs[@]}" | awk '/^Inst /{print $2}' |
		grep -Evx 'tidings|dovecot-tidings' || :)
	[ -z "$extra" ] || fail "apt-get wants to download ${extra//$'\n'/ }: install them on the host (tests/deps.sh)"
	apt-get install -y -q "${debs[@]}" >/tmp/apt.log 2>&1 ||
		{ cat /tmp/apt.log; fail "apt-get install"; }
	dpkg-query -W -f='${Package} ${Status}\n' tidings dovecot-tidings
	note "installed"

	# Binaries.
	/usr/sbin/tidingsd -V
	/usr/sbin/tidings-auth -V
	dpkg -L tidings | grep -qx /usr/sbin/tidingsctl || fail "no /usr/sbin/tidingsctl in the package"
	local rc=0
	/usr/sbin/tidingsctl status >/dev/null 2>&1 || rc=$?
	# 3: tidingsd cannot be reached (it does not run yet).
	[ $rc = 3 ] || fail "tidingsctl status without tidingsd exited $rc (3 expected)"

	# The four man pages, found by man.
	local page
	for page in 8:tidingsd 8:tidings-auth 8:tidingsctl 5:tidings.conf; do
		man -w "${page%%:*}" "${page#*:}" >/dev/null || fail "man -w ${page%%:*} ${page#*:}"
	done
	man 5 tidings.conf 2>/dev/null | grep -q "nudge_pair_limit" ||
		fail "man 5 tidings.conf does not document nudge_pair_limit"
	note "tidingsctl and the man pages are in the package"

	# User, group, state folder, config.
	local pw
	pw=$(getent passwd tidings) || fail "no user tidings"
	[ "$(echo "$pw" | cut -d: -f6)" = /var/lib/tidings ] || fail "tidings' home: $pw"
	[ "$(id -gn tidings)" = tidings ] || fail "tidings' group: $(id -gn tidings)"
	[ "$(echo "$pw" | cut -d: -f3)" -lt 1000 ] || fail "tidings is not a system user: $pw"
	[ "$(stat -c '%a %U %G' /var/lib/tidings)" = "700 tidings tidings" ] ||
		fail "/var/lib/tidings: $(stat -c '%a %U %G' /var/lib/tidings)"
	local conf=/etc/tidings/tidings.conf
	[ "$(stat -c '%a %U %G' $conf)" = "640 root tidings" ] ||
		fail "$conf: $(stat -c '%a %U %G' $conf)"
	runuser -u tidings -- head -c1 $conf >/dev/null || fail "tidings cannot read $conf"
	if runuser -u nobody -- head -c1 $conf >/dev/null 2>&1; then
		fail "nobody can read $conf"
	fi
	dpkg-query -W -f='${Conffiles}\n' tidings | grep -q " $conf " ||
		fail "$conf is not a conffile"
	dpkg-query -W -f='${Conffiles}\n' dovecot-tidings |
		grep -q " /etc/dovecot/conf.d/91-tidings-native.conf " ||
		fail "91-tidings-native.conf is not a conffile"

	# tmpfiles.d and sysctl.d, applied by postinst. The sandbox's network
	# namespace starts with the kernel's default queue (10).
	if command -v systemd-tmpfiles >/dev/null; then
		[ "$(stat -c '%a %U %G' /run/tidings)" = "755 tidings tidings" ] ||
			fail "/run/tidings after installation: $(stat -c '%a %U %G' /run/tidings 2>&1)"
	fi
	[ "$(sysctl -n net.unix.max_dgram_qlen)" = 4096 ] ||
		fail "net.unix.max_dgram_qlen = $(sysctl -n net.unix.max_dgram_qlen)"
	note "user, group, config mode, folders and sysctl as expected"

	# The unit.
	local unit=/lib/systemd/system/tidingsd.service
	grep -qx 'ExecStart=/usr/sbin/tidingsd -c /etc/tidings/tidings.conf' $unit ||
		fail "ExecStart in $unit"
	! grep -q '^SupplementaryGroups' $unit || fail "$unit hard-codes SupplementaryGroups"
	if command -v systemd-analyze >/dev/null; then
		# Its Documentation= names the man pages, which are checked.
		local out man=yes
		out=$(systemd-analyze verify --man=$man $unit 2>&1) ||
			{ echo "$out"; fail "systemd-analyze verify"; }
		# Other units of this machine may have their own complaints;
		# none may be about ours.
		! echo "$out" | grep -i tidings || fail "systemd-analyze verify"
		note "systemd-analyze verify (--man=$man): clean"
	fi
	# Neither enabled nor started by the package.
	not_running || fail "tidingsd runs after installation"
	! ls /etc/rc[2345].d/S*tidingsd >/dev/null 2>&1 || fail "init script enabled"
	[ ! -e /etc/systemd/system/multi-user.target.wants/tidingsd.service ] ||
		fail "unit enabled"

	# A filled-in config (the component secret and the master password,
	# the latter in its own file, as README.Debian says), checked as
	# tidingsd's user.
	sed -i -e 's/^secret = change-me$/secret = s3cret-for-the-test/' \
		-e 's/^master_password = .*/master_password_file = \/etc\/tidings\/master-password/' $conf
	install -m 600 -o tidings -g tidings /dev/null /etc/tidings/master-password
	echo "master-for-the-test" >/etc/tidings/master-password
	runuser -u tidings -- /usr/sbin/tidingsd -c $conf -n >/dev/null ||
		fail "tidingsd -n as tidings"

	# The init script: starts tidingsd as tidings with its sockets, and
	# stops it. No XMPP server runs here: tidingsd keeps trying.
	rm -rf /run/tidings # as after a reboot without systemd-tmpfiles
	/etc/init.d/tidingsd start || fail "/etc/init.d/tidingsd start"
	wait_for 10 test -S /run/tidings/events.sock || fail "no /run/tidings/events.sock"
	local pid
	pid=$(daemon_pid) || fail "no tidingsd pid"
	[ "$(ps -o user= -p "$pid")" = tidings ] || fail "tidingsd runs as $(ps -o user= -p "$pid")"
	[ "$(ps -o comm= -p "$pid")" = tidingsd ] || fail "pid $pid is $(ps -o comm= -p "$pid")"
	[ "$(stat -c '%U' /run/tidings/events.sock)" = tidings ] || fail "socket owner"
	/etc/init.d/tidingsd status || fail "status while running"
	rc=0
	/usr/sbin/tidingsctl status || rc=$?
	# 1: XMPP link down (no XMPP server here); 3 would be: not reached.
	[ $rc = 1 ] || fail "tidingsctl status exited $rc (1 expected: link down)"
	/etc/init.d/tidingsd start || fail "start while running"
	[ "$(daemon_pid)" = "$pid" ] || fail "a second start replaced tidingsd"
	/etc/init.d/tidingsd stop || fail "/etc/init.d/tidingsd stop"
	wait_for 10 not_running || fail "tidingsd still runs after stop"
	local rc=0
	/etc/init.d/tidingsd status >/dev/null || rc=$?
	[ $rc = 3 ] || fail "status after stop exited $rc (3 expected)"
	note "init script: started as tidings (pid $pid), sockets made, stopped"

	# A config tidingsd cannot use is refused before anything starts.
	cp $conf /tmp/conf.good
	echo "bogus_key = 1" >>$conf
	if /etc/init.d/tidingsd start >/tmp/bad.log 2>&1; then
		fail "the init script started tidingsd with a broken config"
	fi
	grep -q "$conf:[0-9]" /tmp/bad.log || { cat /tmp/bad.log; fail "no FILE:LINE for a broken config"; }
	not_running || fail "tidingsd runs with a broken config"
	cp /tmp/conf.good $conf

	# Installing the package again (as an upgrade does) keeps the edited
	# config, with its owner and mode.
	dpkg -i "$pkgdir"/tidings_*.deb >/tmp/reinstall.log 2>&1 ||
		{ cat /tmp/reinstall.log; fail "installing again"; }
	grep -qx 'secret = s3cret-for-the-test' $conf || fail "the edited config was replaced"
	[ "$(stat -c '%a %U %G' $conf)" = "640 root tidings" ] ||
		fail "$conf after installing again: $(stat -c '%a %U %G' $conf)"

	# Dovecot, with its stock config and the snippet, loads the plugin.
	doveconf -n >/tmp/doveconf.txt || fail "doveconf -n"
	grep -q 'push_notification_driver = tidings:socket=/run/tidings/events.sock' /tmp/doveconf.txt ||
		fail "doveconf -n: no tidings driver"
	grep -q 'mail_plugins = .*tidings_push' /tmp/doveconf.txt ||
		fail "doveconf -n: tidings_push not in mail_plugins"
	dovecot || fail "dovecot does not start with the snippet"
	wait_for 10 test -S /run/dovecot/config || fail "dovecot: no config socket"
	# An IMAP session of a system user saves a mail: the plugin sends the
	# event to the socket (here a plain listener in tidingsd's place).
	useradd -m -s /bin/sh tidingstest
	install -d -o tidings -g tidings -m 0755 /run/tidings
	local events=/run/tidings/events.sock
	rm -f $events
	/usr/bin/python3 - "$events" >/tmp/event.json 2>/tmp/listener.log <<'EOF' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
s.settimeout(20)
print(s.recv(65536).decode())
EOF
	local listener=$!
	wait_for 10 test -S $events || fail "listener socket"
	local msg='From: a@example.org\r\nSubject: package test\r\n\r\nhello\r\n'
	printf 'a APPEND INBOX {%d+}\r\n%b\r\nb LOGOUT\r\n' \
		"$(printf %b "$msg" | wc -c)" "$msg" |
		doveadm exec imap -u tidingstest >/tmp/imap.log 2>&1 ||
		{ cat /tmp/imap.log; fail "imap session"; }
	grep -q '^a OK' /tmp/imap.log || { cat /tmp/imap.log; fail "APPEND"; }
	wait $listener || { cat /tmp/listener.log; fail "no event from the plugin"; }
	grep -q '"event":"MessageAppend"' /tmp/event.json &&
		grep -q '"subject":"package test"' /tmp/event.json ||
		fail "unexpected event: $(cat /tmp/event.json)"
	rm -f $events
	note "dovecot loads the plugin; it sent $(head -c 60 /tmp/event.json)..."

	# Removing (not purging) dovecot-tidings keeps its conffile, which
	# must then load nothing: a mail process naming a missing plugin
	# fails. (dovecot-core's trigger restarts Dovecot on a real system;
	# here: reload.)
	apt-get remove -y -q dovecot-tidings >/tmp/remove.log 2>&1 ||
		{ cat /tmp/remove.log; fail "apt-get remove dovecot-tidings"; }
	[ -e /etc/dovecot/conf.d/91-tidings-native.conf ] || fail "remove took the conffile"
	doveadm reload
	! doveconf -n | grep -q tidings_push || fail "tidings_push still in the config after remove"
	printf 'c SELECT INBOX\r\nd LOGOUT\r\n' | doveadm exec imap -u tidingstest >/tmp/imap.log 2>&1 ||
		{ cat /tmp/imap.log; fail "Dovecot's IMAP after removing dovecot-tidings"; }
	grep -q '^c OK' /tmp/imap.log || { cat /tmp/imap.log; fail "SELECT after removing dovecot-tidings"; }
	doveadm stop
	note "after apt-get remove dovecot-tidings, Dovecot works without the plugin"

	# Purge, with tidingsd running: it is stopped, and only the state
	# folder and the user are left.
	/etc/init.d/tidingsd start >/dev/null || fail "start before purge"
	wait_for 10 test -S /run/tidings/events.sock || fail "no socket before purge"
	apt-get purge -y -q tidings dovecot-tidings >/tmp/purge.log 2>&1 ||
		{ cat /tmp/purge.log; fail "apt-get purge"; }
	wait_for 10 not_running || { cat /tmp/purge.log; ps -ef; fail "tidingsd still runs after purge"; }
	userdel -r tidingstest 2>/dev/null || :
	snapshot >/tmp/after
	local left
	left=$(comm -13 /tmp/before /tmp/after | grep -Ev '^/var/lib/tidings(/|$)' || :)
	[ -z "$left" ] || fail "left after purge: $left"
	[ -d /var/lib/tidings ] || fail "purge removed /var/lib/tidings"
	getent passwd tidings >/dev/null || fail "purge removed the user"
	dpkg-statoverride --list | grep -q tidings && fail "statoverride left"
	note "purge: only /var/lib/tidings and the user tidings are left"
}

if [ "${1:-}" = --inside ]; then
	inside "$2"
	exit 0
fi

# --- 1. and 2. on the host -------------------------------------------------

[ "$(id -u)" = 0 ] || fail "run as root"
cd "$(dirname "$0")/../.."
top=$(pwd)
work=$(mktemp -d /var/tmp/tidings-pkg.XXXXXX)
if [ "${TIDINGS_PKG_KEEP:-0}" = 1 ]; then
	trap 'echo "test_packages: kept $work"' EXIT
else
	trap 'rm -rf "$work"' EXIT
fi

# A clean copy: the files git knows (committed or not, minus ignored ones
# such as build folders); without git, everything but build*/.
mkdir "$work/src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$top" ls-files -z -co --exclude-standard |
		(cd "$top" && xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
		tar -C "$top" --null -T - -cf - | tar -C "$work/src" -xf -
else
	tar -C "$top" --exclude='./build*' -cf - . | tar -C "$work/src" -xf -
fi

t0=$SECONDS
(cd "$work/src" &&
	DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-nocheck parallel=2} \
		dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) ||
	{ tail -60 "$work/build.log"; fail "dpkg-buildpackage (log: $work/build.log)"; }
note "built in $((SECONDS - t0)) s: $(cd "$work" && echo *.deb)"

t0=$SECONDS
changes=$(echo "$work"/tidings_*.changes)
rc=0
lintian --fail-on error --display-info "$changes" >"$work/lintian.log" 2>&1 || rc=$?
grep -v 'running with root privileges' "$work/lintian.log" || :
[ $rc = 0 ] || fail "lintian found errors (exit $rc)"
note "lintian: no errors ($((SECONDS - t0)) s)"

mkdir "$work/debs"
cp "$work"/tidings_*.deb "$work"/dovecot-tidings_*.deb "$work/debs/"
# For the next CI step (the README's admin path with the packages).
if [ -n "${TIDINGS_PKG_OUT:-}" ]; then
	rm -rf "$TIDINGS_PKG_OUT" && mkdir -p "$TIDINGS_PKG_OUT"
	cp "$work"/debs/*.deb "$TIDINGS_PKG_OUT/"
fi
"$top/tests/system/sandbox.sh" -b "$work/debs:/tmp-debs" \
	bash "$top/tests/system/test_packages.sh" --inside /tmp-debs ||
	fail "in the sandbox"
note "passed"
