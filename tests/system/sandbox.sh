#!/usr/bin/env bash
# Runs a command as root in a throwaway copy of this machine: the whole root
# file system is an overlay (writes land in a temporary folder and vanish
# afterwards), with its own network namespace (only a loopback interface,
# so stock configs can listen on their usual ports, and nothing leaves the
# machine), its own PID namespace, /proc, /run and /tmp. Inside it, tests
# install packages with dpkg/apt-get, edit /etc and start daemons without
# touching the host. Needs root, util-linux's unshare and overlayfs.
#
#   tests/system/sandbox.sh [-k] [-b HOSTDIR:SANDBOXDIR]... COMMAND [ARG]...
#     -k   keep the overlay's upper folder (printed) for a post-mortem
#     -b   bind-mount a host folder into the sandbox (read-write), e.g. to
#          pass built packages in and logs out
#
# The command's exit status is the script's. Every process left inside is
# killed when the command ends (the PID namespace goes away with it).
set -euo pipefail

keep=0
binds=()
while getopts "kb:" opt; do
	case $opt in
	k) keep=1 ;;
	b) binds+=("$OPTARG") ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-k] [-b HOST:SANDBOX]... COMMAND..." >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "sandbox: needs root" >&2; exit 2; }

base=$(mktemp -d /var/tmp/tidings-sandbox.XXXXXX)
mkdir -p "$base/upper" "$base/work" "$base/root"
cleanup() {
	if [ $keep = 1 ]; then
		echo "sandbox: kept $base/upper" >&2
	else
		rm -rf "$base"
	fi
}
trap cleanup EXIT

# Inside the new namespaces: mount the overlay and the pseudo file
# systems, bring up loopback, chroot, run.
inner=$(
	cat <<'EOF'
set -e
base=$1; shift
nbinds=$1; shift
mount --make-rprivate /
root=$base/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$root"
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys" 2>/dev/null || :
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mkdir -p "$root/run/lock" && chmod 1777 "$root/run/lock"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount -t tmpfs -o mode=1777 tmpfs "$root/var/tmp"
for _ in $(seq "$nbinds"); do
	host=${1%%:*}; inside=${1#*:}; shift
	mkdir -p "$root$inside"
	mount --bind "$host" "$root$inside"
done
ip link set lo up 2>/dev/null ||
	python3 -c 'import fcntl, socket, struct
s = socket.socket(); ifr = struct.pack("16sH14x", b"lo", 0)
f = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, ifr))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", f | 1))'
# No service started by a maintainer script may escape: there is no
# init in here, and invoke-rc.d asks policy-rc.d first.
exec chroot "$root" "$@"
EOF
)
set +e
unshare --mount --net --pid --uts --ipc --fork --kill-child \
	bash -c "$inner" sandbox "$base" "${#binds[@]}" "${binds[@]}" "$@"
rc=$?
set -e
exit $rc
