#!/bin/sh
# chroot-check.sh - `make test` on a brand-new Debian 12, as the README says.
#
#   sudo tests/ci/chroot-check.sh [commit-ish]    (default HEAD)
#
# debootstraps a minbase bookworm into a temporary directory, installs
# build-essential, git and ca-certificates in it (what the README asks of a
# fresh machine), clones the given commit of this repository into it, runs
# `make test` there as root and prints the summary line and the elapsed time.
# Everything else the build and the tests use must come from `make test`
# itself; that is what this checks. Not part of `make test`: it downloads a
# Debian and takes a while (about ten minutes on two cores with a near mirror).
#
# Environment: MIRROR (default http://deb.debian.org/debian), KEEP=1 keeps
# the tree afterwards (under /var/tmp), LOG (default <tree>.log).
set -eu

# all in one function, so the shell has read the whole script before it
# runs any of it (editing the file meanwhile cannot derail a run)
main() {

rev=${1:-HEAD}
mirror=${MIRROR:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse --verify "$rev^{commit}")

[ "$(id -u)" = 0 ] || { echo "chroot-check.sh: must run as root" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "chroot-check.sh: apt-get install debootstrap" >&2; exit 2; }

root=$(mktemp -d /var/tmp/ramp-chroot.XXXXXX)
chmod 755 "$root" # it becomes /: every user must get through it
log=${LOG:-$root.log}
start=$(date +%s)

cleanup() {
	status=$?
	set +e
	# whatever still runs inside the tree (a test's leftover server), by pid
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -9 "${p#/proc/}" 2>/dev/null
	done
	for m in dev/shm dev/pts dev sys proc; do
		mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
	done
	# a test's own tmpfs mounts under /tmp, if any survived
	grep " $root/" /proc/mounts | cut -d' ' -f2 | sort -r | while read -r m; do umount -l "$m"; done
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $root"; else rm -rf "$root"; fi
	exit $status
}
trap cleanup EXIT INT TERM

echo "chroot-check: $commit into $root (log $log)"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$log" 2>&1 ||
	{ tail -20 "$log"; exit 1; }

cp /etc/resolv.conf "$root/etc/resolv.conf"
# what the installer writes on a real machine, and debootstrap does not
[ -s "$root/etc/hosts" ] ||
	printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
		"$(hostname)" >"$root/etc/hosts"
# a chroot has no init: packages must not start their services in it (they
# would share this machine's network and outlive the check)
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
mount -t tmpfs -o mode=1777 shm "$root/dev/shm"

in_root() {
	chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		DEBIAN_FRONTEND=noninteractive \
		${NODE_EXTRA_CA_CERTS:+NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt} "$@"
}

# this machine's own extra certificate authorities (a TLS-inspecting proxy,
# say), so the chroot reaches what this machine reaches (npm's registry)
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
	mkdir -p "$root/usr/local/share/ca-certificates"
	cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi

# what the README asks for on a fresh machine, nothing more
in_root sh -c 'apt-get update && apt-get install -y build-essential git ca-certificates' >>"$log" 2>&1 ||
	{ tail -20 "$log"; exit 1; }

git clone -q --no-checkout "$repo" "$root/root/ramp"
git -C "$root/root/ramp" checkout -q "$commit"

echo "chroot-check: make test (follow with: tail -f $log)"
rc=0
in_root sh -c 'cd /root/ramp && make test' >>"$log" 2>&1 || rc=$?

elapsed=$(($(date +%s) - start))
grep -E '^FAIL ' "$log" || true
grep -E -A1 '^skip ' "$log" | grep -v '^--$' || true
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -1)
echo "chroot-check: ${summary:-no summary line (make test exited $rc; see $log)}"
printf 'chroot-check: elapsed %dm%02ds, make test exit %d\n' $((elapsed / 60)) $((elapsed % 60)) "$rc"
[ "$rc" = 0 ] && [ -n "$summary" ]
}

main "$@"
