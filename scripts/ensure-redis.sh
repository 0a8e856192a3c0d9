#!/usr/bin/env bash
# Makes sure redis-server is on the PATH, installing Debian's package when it
# is missing and we are root. Prints nothing on success when already present.
set -uo pipefail

command -v redis-server >/dev/null 2>&1 && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "ensure-redis: redis-server is not installed and cannot be installed here (need root and apt-get)" >&2
	exit 1
fi

echo "ensure-redis: installing Debian's redis-server package" >&2
# Keep the package's init script from starting a system-wide server: tests
# start their own throwaway instance.
policy=/usr/sbin/policy-rc.d
had_policy=0
[ -e "$policy" ] && had_policy=1
if [ $had_policy -eq 0 ]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"; fi
export DEBIAN_FRONTEND=noninteractive
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server; } >/dev/null 2>&1
rc=$?
[ $had_policy -eq 0 ] && rm -f "$policy"
if [ $rc -ne 0 ] || ! command -v redis-server >/dev/null 2>&1; then
	echo "ensure-redis: installing redis-server failed" >&2
	exit 1
fi
