#!/usr/bin/env bash
# Inside tests/system/sandbox.sh (started by test_admin_path.sh): an
# existing Debian 12 mail and chat site on stock configs, then README.md's
# admin path as written, then the checks. Arguments: TOP MODE BUILD DRIVER.
set -euo pipefail
top=$1 mode=$2 build=$3 driver=$4
domain=tidings.test          # what the admin writes into the README's domain=
work=/root/admin-path        # this run's own files (the overlay vanishes after)
log=/var/log/mail.log        # the system log, as rsyslog would write it
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
py=/usr/bin/python3
mkdir -p "$work"
t0=$SECONDS

say() { echo "admin-path [$((SECONDS - t0)) s]: $*"; }
fail() {
	echo "admin-path: FAILED: $*" >&2
	echo "--- the system log ($log), last lines:" >&2
	tail -40 "$log" >&2 || :
	exit 1
}

wait_for() { # seconds, description, command...
	local n=$(($1 * 10)) what=$2
	shift 2
	while ! "$@" 2>/dev/null; do
		n=$((n - 1))
		[ $n -gt 0 ] || fail "timed out waiting for $what"
		sleep 0.1
	done
}

# -- a system logger ---------------------------------------------------------
# Dovecot logs to syslog on Debian, and so does tidingsd without systemd.
# The sandbox shares the host's /dev, so /dev/log lives in a private overlay
# of it; the logger writes every line to $log.
mkdir -p /tmp/dev/upper /tmp/dev/work /tmp/dev/pts /tmp/dev/shm
mount --bind /dev/pts /tmp/dev/pts
mount --bind /dev/shm /tmp/dev/shm
mount -t overlay overlay -o lowerdir=/dev,upperdir=/tmp/dev/upper,workdir=/tmp/dev/work /dev
mount --move /tmp/dev/pts /dev/pts
mount --move /tmp/dev/shm /dev/shm
: >"$log"
$py "$top/tests/system/syslogd.py" /dev/log "$log" &
wait_for 10 "the system logger" test -S /dev/log

# -- Debian's stock configs ------------------------------------------------
# The host may have edited /etc/dovecot or /etc/prosody: put back what the
# packages ship. dovecot-core keeps its originals in /usr/share/dovecot.
say "stock configs"
rm -rf /etc/dovecot/conf.d /etc/dovecot/dovecot-acl /etc/dovecot/master-users \
	/etc/dovecot/users /etc/dovecot/tidings-push.lua
install -d -m 755 /etc/dovecot/conf.d
install -m 644 /usr/share/dovecot/dovecot.conf /etc/dovecot/
install -m 644 /usr/share/dovecot/conf.d/* /etc/dovecot/conf.d/
for f in /usr/share/dovecot/*.conf.ext; do
	install -m 640 -o root -g dovecot "$f" /etc/dovecot/
done
# Prosody's: the conffile if dpkg says it is untouched, else the cached .deb.
pristine() { # package, conffile
	local want
	want=$(dpkg-query -W -f='${Conffiles}\n' "$1" | awk -v f="$2" '$1 == f { print $2 }')
	[ -n "$want" ] && [ "$(md5sum <"$2" | cut -d' ' -f1)" = "$want" ]
}
for f in /etc/prosody/prosody.cfg.lua /etc/prosody/conf.avail/localhost.cfg.lua; do
	pristine prosody "$f" && continue
	deb=$(ls /var/cache/apt/archives/prosody_"$(dpkg-query -W -f='${Version}' prosody | sed 's/:/%3a/')"_*.deb 2>/dev/null | head -1)
	[ -n "$deb" ] || fail "$f was edited and no prosody .deb is cached to restore it"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO ".$f" >"$f"
	pristine prosody "$f" || fail "could not restore $f"
done
rm -rf /etc/prosody/conf.d /etc/prosody/certs/*
install -d -m 754 -o root -g prosody /etc/prosody/conf.d
ln -s ../conf.avail/localhost.cfg.lua /etc/prosody/conf.d/localhost.cfg.lua
rm -rf /var/lib/prosody/* /var/lib/tidings /etc/tidings /usr/local/sbin/tidings*
grep -q "^authentication = \"internal_hashed\"" /etc/prosody/prosody.cfg.lua ||
	fail "this is not Debian's prosody.cfg.lua"

# -- the existing site -----------------------------------------------------
# Dovecot with virtual users (Debian's auth-passwdfile.conf.ext, mail owned
# by vmail under /var/vmail), Prosody serving $domain with its own
# accounts, and a certificate for each, as a site has.
say "an existing site: Dovecot (virtual users) and Prosody serving $domain"
getent group vmail >/dev/null || groupadd -g 5000 vmail
getent passwd vmail >/dev/null ||
	useradd -u 5000 -g vmail -d /var/vmail -M -s /usr/sbin/nologin vmail
install -d -m 750 -o vmail -g vmail /var/vmail
vuid=$(id -u vmail) vgid=$(id -g vmail)
sed -i -e 's/^!include auth-system.conf.ext/#&/' \
	-e 's/^#!include auth-passwdfile.conf.ext/!include auth-passwdfile.conf.ext/' \
	/etc/dovecot/conf.d/10-auth.conf
sed -i 's|^mail_location = .*|mail_location = maildir:~/Maildir|' /etc/dovecot/conf.d/10-mail.conf
install -m 640 -o root -g dovecot /dev/null /etc/dovecot/users
for u in alice bob; do
	printf '%s@%s:%s:%s:%s::/var/vmail/%s/%s::\n' "$u" "$domain" \
		"$(printf '%s\n%s\n' "$u-mail-pw" "$u-mail-pw" | doveadm pw -s SHA512-CRYPT)" \
		"$vuid" "$vgid" "$domain" "$u" >>/etc/dovecot/users
done
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
if [ ! -e /etc/dovecot/private/dovecot.pem ]; then
	install -d -m 700 /etc/dovecot/private
	openssl req -x509 -nodes "${ec[@]}" -days 2 -subj "/CN=$(hostname)" \
		-keyout /etc/dovecot/private/dovecot.key \
		-out /etc/dovecot/private/dovecot.pem 2>/dev/null
fi
openssl req -x509 -nodes "${ec[@]}" -days 2 -subj "/CN=admin-path test CA" \
	-keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
for h in "$domain" "chat.$domain"; do
	openssl req -nodes "${ec[@]}" -subj "/CN=$h" -addext "subjectAltName=DNS:$h" \
		-keyout "/etc/prosody/certs/$h.key" -out "$work/$h.csr" 2>/dev/null
	openssl x509 -req -in "$work/$h.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
		-CAcreateserial -days 2 -copy_extensions copy \
		-out "/etc/prosody/certs/$h.crt" 2>/dev/null
	chown root:prosody "/etc/prosody/certs/$h.key"
	chmod 640 "/etc/prosody/certs/$h.key"
done
cat >/etc/prosody/conf.avail/"$domain".cfg.lua <<EOF
VirtualHost "$domain"
VirtualHost "chat.$domain"
EOF
ln -s ../conf.avail/"$domain".cfg.lua /etc/prosody/conf.d/
# What Debian's units and init scripts would do at boot.
install -d -m 755 -o prosody -g adm /run/prosody
dovecot
wait_for 10 "Dovecot" test -S /run/dovecot/lmtp
prosodyctl register xonly "$domain" xonly-pw
prosodyctl register keep "chat.$domain" keep-pw
prosodyctl start
wait_for 20 "Prosody" $py -c 'import socket; socket.create_connection(("127.0.0.1", 5222), 1)'

# -- README.md, as written -------------------------------------------------
# Each step is the code block after `<!-- admin-path: NAME -->`. Blocks for
# systemd (no systemd here) and the package build are not run.
block() { # name -> the block's text, unindented
	awk -v m="<!-- admin-path: $1 -->" '
		index($0, m) { found = 1; next }
		found && !inblk && /^ *```sh *$/ { inblk = 1; ind = index($0, "`") - 1; next }
		inblk && /^ *``` *$/ { exit }
		inblk { print substr($0, ind + 1) }' "$top/README.md"
}
steps=(site)
if [ $mode = source ]; then
	steps+=(src-deps src-install dovecot)
	[ $driver = native ] && steps+=(dovecot-native) || steps+=(dovecot-lua)
else
	steps+=(deb-install dovecot)
	[ $driver = lua ] && steps+=(dovecot-lua)
fi
steps+=(dovecot-reload prosody prosody-nosystemd tidingsd nosystemd-log)
[ $mode = source ] && steps+=(run-src-nosystemd) || steps+=(run-deb-nosystemd)

script=$work/readme.sh
{
	echo "set -e"
	echo "trap 'echo \"README step failed: \$step\" >&2' ERR"
	for s in "${steps[@]}"; do
		text=$(block "$s")
		[ -n "$text" ] || fail "README.md has no block admin-path: $s"
		case $s in
		site)
			grep -qx "domain=example.org" <<<"$text" ||
				fail "the site block no longer says domain=example.org"
			text=${text/domain=example.org/domain=$domain}
			;;
		src-install)
			text=${text//meson install -C build/meson install -C $build}
			;;
		deb-install) echo "cd /tmp/tidings-debs" ;;
		esac
		# Markers in the log, to look at what each step made servers say.
		echo "logger -t admin-path 'README step $s'"
		printf 'step=%s\necho "=== README step: %s"\n%s\n' "$s" "$s" "$text"
		[ $s = deb-install ] && echo "cd $top"
	done
} >"$script"
# apt asks before installing; the admin answers yes.
echo 'APT::Get::Assume-Yes "true";' >/etc/apt/apt.conf.d/99admin-path-test
say "README steps: ${steps[*]}"
(cd "$top" && env -i PATH="$PATH" HOME=/root TERM=dumb LANG=C.UTF-8 \
	bash "$script") >"$work/readme.out" 2>&1 || {
	tail -30 "$work/readme.out" >&2
	fail "a README step failed (above)"
}
say "README steps done"

# -- checks ----------------------------------------------------------------
# The reload must not have logged a bind (or any) error: no Dovecot error
# line from the README's doveadm reload on; and Prosody (which logs only
# errors to syslog) none from its restart on.
grep -q "admin-path: README step dovecot-reload" "$log" ||
	fail "no log marker: is the logger alive?"
if sed -n '/admin-path: README step dovecot-reload$/,$p' "$log" |
	grep -E "dovecot: .*(Error|Fatal|Panic):"; then
	fail "Dovecot logged errors after the README's doveadm reload"
fi
if sed -n '/admin-path: README step prosody-nosystemd$/,$p' "$log" | grep "prosody\["; then
	fail "Prosody logged errors after the README's restart"
fi

# tidingsd runs as tidings, with the group vmail (socket_group), and reads
# its config as tidings: the README's `runuser -u tidings -- tidingsd -n`.
wait_for 10 "tidingsd's event socket" test -S /run/tidings/events.sock
pid=$(cat /run/tidings/tidingsd.pid 2>/dev/null || pgrep -x tidingsd | head -1)
[ -n "$pid" ] && [ -d "/proc/$pid" ] || fail "tidingsd is not running"
tuid=$(id -u tidings)
awk -v u="$tuid" '/^Uid:/ { exit !($2 == u && $3 == u && $4 == u && $5 == u) }' \
	"/proc/$pid/status" || fail "tidingsd does not run as tidings: $(grep Uid: /proc/$pid/status)"
awk -v g="$(getent group vmail | cut -d: -f3)" '/^Groups:/ {
	for (i = 2; i <= NF; i++) if ($i == g) ok = 1 } END { exit !ok }' \
	"/proc/$pid/status" || fail "tidingsd is not in the group vmail"
[ "$(stat -c '%U:%G %a' /etc/tidings/tidings.conf)" = "root:tidings 640" ] ||
	fail "tidings.conf is $(stat -c '%U:%G %a' /etc/tidings/tidings.conf)"
[ "$(stat -c '%U:%G %a' /etc/dovecot/master-users)" = "root:dovecot 640" ] ||
	fail "master-users is $(stat -c '%U:%G %a' /etc/dovecot/master-users)"
grep -qE '^tidings:\{SHA512-CRYPT\}\$6\$[^:]+$' /etc/dovecot/master-users ||
	fail "master-users is not one line tidings:{SHA512-CRYPT}\$6\$..."
[ "$(stat -c '%U:%G %a' /etc/tidings/master-password)" = "tidings:tidings 600" ] ||
	fail "master-password is $(stat -c '%U:%G %a' /etc/tidings/master-password)"
grep -q '"privilege"' /etc/prosody/prosody.cfg.lua || fail "no privilege in modules_enabled"
[ "$(stat -c %G /run/tidings/events.sock)" = vmail ] || fail "the event socket's group is not vmail"
# Without systemd tidingsd logs to syslog, as the README sets it.
wait_for 10 "tidingsd's lines in the system log" grep -q "tidingsd.*connected to" "$log"

say "end to end: XMPP login with the mail password, a mail over LMTP, its notification"
TIDINGS_BUILD=$build $py "$top/tests/system/admin_path_check.py" \
	--domain "$domain" --ca "$work/ca.pem" --log "$log" ||
	fail "the end-to-end check failed"
say "passed (driver $driver, from $mode)"
