# Debian 12 packages tidings needs, in one place. Sourced by
# tests/run-all.sh and examples/demo/run.sh; installs what is missing.
#   tidings_install_deps build  what building tidings needs: compilers and
#                               -dev packages only, no servers, nothing
#                               else touched (for admins building on a
#                               live server; dovecot-dev needs dovecot-core,
#                               which a Dovecot host has already)
#   tidings_install_deps run    build + run the demo stack (Dovecot,
#                               Prosody, ejabberd, Postfix: kept from
#                               starting while they are installed)
#   tidings_install_deps test   everything the test suite needs as well

TIDINGS_BUILD_PKGS="meson ninja-build pkg-config gcc libc6-dev
  libuv1-dev libstrophe-dev libetpan-dev libexpat1-dev libssl-dev
  libsqlite3-dev libjansson-dev dovecot-dev libmicrohttpd-dev"
TIDINGS_RUN_PKGS="dovecot-core dovecot-imapd dovecot-lmtpd prosody
  prosody-modules lua-socket python3 python3-slixmpp ejabberd postfix"
TIDINGS_TEST_PKGS="python3-pytest clang libclang-rt-14-dev valgrind lua5.4
  swaks procps go-sendxmpp
  debhelper dpkg-dev lintian libmicrohttpd-dev man-db openssl"

tidings_install_deps() {
	local mode=${1:-run} pkgs
	case $mode in
	build) pkgs=$TIDINGS_BUILD_PKGS ;;
	run) pkgs="$TIDINGS_BUILD_PKGS $TIDINGS_RUN_PKGS" ;;
	test) pkgs="$TIDINGS_BUILD_PKGS $TIDINGS_RUN_PKGS $TIDINGS_TEST_PKGS" ;;
	*)
		echo "usage: tidings_install_deps build|run|test" >&2
		return 2
		;;
	esac
	local missing=""
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "tidings: installing$missing"
	if [ "$mode" = build ]; then
		apt-get update -q &&
			apt-get install -y -q --no-install-recommends $missing
		return
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# Debian's maintainer scripts would start system-wide Dovecot, Prosody
	# and ejabberd; tidings runs private instances, so keep them from
	# starting.
	local rc_was_there=0
	[ -e /usr/sbin/policy-rc.d ] && rc_was_there=1
	if [ $rc_was_there = 0 ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
	fi
	# Postfix's maintainer scripts ask which kind of mail system this
	# is; "No configuration" leaves /etc/postfix without a main.cf, so
	# the system instance cannot start (the demo and the tests run
	# private ones, `postfix -c DIR`, on ports of their own).
	case " $missing " in *" postfix "*)
		echo "postfix postfix/main_mailer_type select No configuration" |
			debconf-set-selections ;;
	esac
	apt-get install -y -q --no-install-recommends $missing
	[ $rc_was_there = 0 ] && rm -f /usr/sbin/policy-rc.d
	# Nor should it start at the next boot (the unit would only fail
	# without a main.cf). A Postfix that was installed before is the
	# system's mail server and is left alone.
	case " $missing " in *" postfix "*)
		if command -v systemctl >/dev/null 2>&1; then
			systemctl disable -q postfix.service 2>/dev/null || :
		fi ;;
	esac
	return 0
}
