#!/usr/bin/env bash
# The whole tidings test suite, from a fresh Debian 12 machine, as root:
#   bash tests/run-all.sh
# 1. installs what it needs (apt-get),
# 2. gcc build with -Werror; unit tests and fuzz-corpus replays,
# 3. the same build under AddressSanitizer + UBSan: unit tests, and the
#    integration suite against real Dovecot, Prosody and ejabberd (once:
#    the sanitized run checks all the plain one would, and more),
# 4. the end-to-end tests (a notification; mail from chat, a reply) with
#    the plain build's tidingsd under valgrind,
# 5. the Debian packages: built, linted, installed and purged in a
#    throwaway root (tests/system/test_packages.sh); then the README's
#    admin path on stock Debian configs, with those packages and from
#    source (tests/system/test_admin_path.sh),
# 6. a clang/libFuzzer build, each fuzz target run for FUZZ_SECONDS, two
#    at a time.
# Ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
. tests/deps.sh
tidings_install_deps test || { echo "tidings: package install failed"; exit 1; }

# The event socket's queue (see README, "Operating it"); tests that burst
# mail expect it to be as an admin should set it.
sysctl -qw net.unix.max_dgram_qlen=4096 2>/dev/null ||
	echo "tidings: could not raise net.unix.max_dgram_qlen (continuing)"

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
passed=0
failed=0
failures=()

step() {
	local name=$1
	shift
	echo
	echo "=== $name"
	local t0=$SECONDS
	if "$@"; then
		passed=$((passed + 1))
		echo "=== $name: passed ($((SECONDS - t0)) s)"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "=== $name: FAILED ($((SECONDS - t0)) s)"
	fi
}

setup() { # dir, meson options...
	local dir=$1
	shift
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi && ninja -C "$dir"
}

pytest_run() { # build dir, pytest args...
	local dir=$1
	shift
	TIDINGS_BUILD="$top/$dir" /usr/bin/python3 -m pytest -q -p no:cacheprovider "$@"
}

fuzz_one() { # fuzzer binary; 0 when it ran its time without a finding
	local f=$1 name=${1##*/fuzz-}
	local corpus
	corpus=$(mktemp -d)
	cp tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
	local rc=0
	"$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="build-fuzz/crash-$name-" "$corpus" \
		>"build-fuzz/fuzz-$name.log" 2>&1 || rc=1
	rm -rf "$corpus"
	return $rc
}

# The targets run two at a time (one per core of the CI machine).
fuzz_all() {
	local ok=0 targets=()
	for f in build-fuzz/tests/fuzz/fuzz-*; do
		[ -f "$f" ] && [ -x "$f" ] && targets+=("$f")
	done
	local -A pids=()
	for f in "${targets[@]}"; do
		while [ "$(jobs -rp | wc -l)" -ge "${FUZZ_JOBS:-2}" ]; do
			wait -n || :
		done
		echo "fuzzing ${f##*/fuzz-} for ${FUZZ_SECONDS}s"
		fuzz_one "$f" &
		pids[$f]=$!
	done
	for f in "${targets[@]}"; do
		local name=${f##*/fuzz-}
		if wait "${pids[$f]}"; then
			echo "$name: $(grep -E "stat::number_of_executed_units" \
				"build-fuzz/fuzz-$name.log" | tail -1)"
		else
			echo "$name: FAILED"
			tail -40 "build-fuzz/fuzz-$name.log"
			ok=1
		fi
	done
	return $ok
}

step "build (gcc, -Werror)" setup build
step "unit tests" meson test -C build --print-errorlogs

step "build (ASan + UBSan)" setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
step "unit tests (ASan + UBSan)" meson test -C build-asan --print-errorlogs
step "integration, real servers (ASan + UBSan)" pytest_run build-asan tests/integration
unset ASAN_OPTIONS UBSAN_OPTIONS

step "end-to-end under valgrind" env \
	TIDINGS_WRAPPER="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-fds=no --quiet" \
	TIDINGS_BUILD="$top/build" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
	tests/integration/test_newmail.py \
	"tests/integration/test_mail_from_chat.py::test_chat_to_addresses_arrives" \
	"tests/integration/test_mail_from_chat.py::test_reply_to_notification"

step "Debian packages (build, lintian, install, purge)" \
	env TIDINGS_PKG_OUT=build-deb bash tests/system/test_packages.sh
# The README's admin path on stock Debian configs: with those packages
# (native driver), and from source (the gcc build, Lua driver).
step "admin path from the README (stock Debian configs)" bash -c \
	"tests/system/test_admin_path.sh --debs build-deb --driver native &&
	 tests/system/test_admin_path.sh --build build --driver lua"

step "build (clang, libFuzzer)" env CC=clang bash -c \
	"$(declare -f setup); setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false"
step "fuzz targets (${FUZZ_SECONDS}s each)" fuzz_all

echo
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
