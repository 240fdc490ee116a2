#!/bin/sh
# The data directory `make run` gives rampd: ./var in the checkout. As root
# the embedded PostgreSQL runs as the postgres user, which cannot reach a
# checkout under a private directory (/root, anything made by mktemp -d);
# then the data lives in /var/lib/ramp-dev (RAMP_LOCAL_FALLBACK) and ./var
# is a link to it, so var/admin.token stays where rampctl and the README
# look. Prints the directory to use.
#   deploy/local-data-dir.sh CHECKOUT
set -eu
top=$1
var=$top/var
fallback=${RAMP_LOCAL_FALLBACK:-/var/lib/ramp-dev}

reachable() {
	[ "$(id -u)" != 0 ] && return 0
	id postgres >/dev/null 2>&1 || return 0
	runuser -u postgres -- test -x "$1" 2>/dev/null
}

if [ ! -L "$var" ] && [ ! -e "$var/pg/PG_VERSION" ] && ! reachable "$top"; then
	mkdir -p "$fallback"
	chmod 755 "$fallback"
	if [ -d "$var" ]; then # left by a start that could not work: keep its files
		cp -a "$var/." "$fallback/"
		rm -rf "$var"
	fi
	ln -s "$fallback" "$var"
	echo "make run: postgres cannot reach $top, so the data directory is $fallback (linked as $var)" >&2
fi
mkdir -p "$var"
readlink -f "$var"
