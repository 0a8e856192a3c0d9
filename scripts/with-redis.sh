#!/usr/bin/env bash
# Runs a command with a throwaway redis-server on a free loopback port.
# The server's address is handed to the command as LEVEE_REDIS_ADDR, and the
# server is stopped by its PID when the command ends, whatever its outcome.
#
# If LEVEE_REDIS_ADDR is already set, that server is used and none is started.
# If no redis-server can be had, the command still runs without the variable:
# tests that need Redis then skip loudly (or fail when CI=true).
set -uo pipefail

if [ -n "${LEVEE_REDIS_ADDR:-}" ]; then
	exec "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
if ! "$here/ensure-redis.sh"; then
	echo "with-redis: WARNING: no redis-server; tests that need Redis will skip (or fail with CI=true)" >&2
	exec "$@"
fi

dir=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ping() { # ping PORT: true when a Redis server answers PONG on 127.0.0.1:PORT
	{ exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	printf 'PING\r\n' >&3
	local reply=""
	read -r -t 1 reply <&3
	exec 3<&- 3>&-
	[[ "$reply" == "+PONG"* ]]
}

for _ in $(seq 20); do
	port=$((20000 + RANDOM % 30000))
	ping "$port" && continue # something answers there already
	redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
		--dir "$dir" --logfile "$dir/redis.log" --daemonize no &
	pid=$!
	for _ in $(seq 50); do
		ping "$port" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ping "$port"; then break; fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=""
done

if [ -z "$pid" ]; then
	echo "with-redis: WARNING: could not start redis-server; tests that need Redis will skip (or fail with CI=true)" >&2
	[ -f "$dir/redis.log" ] && tail -5 "$dir/redis.log" >&2
	"$@"
	exit $?
fi

echo "with-redis: redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$port (pid $pid)"
export LEVEE_REDIS_ADDR="127.0.0.1:$port"
"$@"
exit $?
