#!/usr/bin/env bash
# Runs a command with throwaway Redis servers on free loopback ports:
#
#   LEVEE_REDIS_ADDR=127.0.0.1:p                 one standalone redis-server
#   LEVEE_REDIS_CLUSTER_ADDRS=127.0.0.1:p1,...    a 3-master Redis Cluster
#                                                 (no replicas, all 16384 slots)
#
# Every server is stopped by its PID when the command ends, whatever its
# outcome (failure and Ctrl-C included), and its directory removed.
#
# A variable that is already set is kept and its servers are not started.
# If no redis-server can be had, the command still runs without the
# variables: tests that need Redis then skip loudly (or fail when CI=true).
set -uo pipefail

if [ -n "${LEVEE_REDIS_ADDR:-}" ] && [ -n "${LEVEE_REDIS_CLUSTER_ADDRS:-}" ]; then
	exec "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
if ! "$here/ensure-redis.sh"; then
	echo "with-redis: WARNING: no redis-server; tests that need Redis will skip (or fail with CI=true)" >&2
	exec "$@"
fi

dir=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
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

busy() { # busy PORT: true when something accepts connections on 127.0.0.1:PORT
	{ exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	exec 3<&- 3>&-
	return 0
}

started_pid=""
# start NAME [redis-server args...]: starts a server on a free port (the
# cluster bus port, port+10000, free too), waits for PONG, sets $port and
# $started_pid. Returns 1 after 20 failed attempts.
start() {
	local name=$1
	shift
	local d="$dir/$name" p
	mkdir -p "$d"
	for _ in $(seq 20); do
		port=$((20000 + RANDOM % 25000))
		busy "$port" && continue
		busy $((port + 10000)) && continue
		redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
			--dir "$d" --logfile "$d/redis.log" --daemonize no "$@" &
		p=$!
		for _ in $(seq 50); do
			ping "$port" && break
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
		if ping "$port"; then
			pids+=("$p")
			started_pid=$p
			return 0
		fi
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	echo "with-redis: WARNING: could not start redis-server ($name)" >&2
	[ -f "$d/redis.log" ] && tail -5 "$d/redis.log" >&2
	return 1
}

version=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')

if [ -z "${LEVEE_REDIS_ADDR:-}" ]; then
	if start single; then
		echo "with-redis: redis-server $version on 127.0.0.1:$port (pid $started_pid)"
		export LEVEE_REDIS_ADDR="127.0.0.1:$port"
	else
		echo "with-redis: WARNING: tests that need LEVEE_REDIS_ADDR will skip (or fail with CI=true)" >&2
	fi
fi

# cluster: three masters, slots split evenly, joined with CLUSTER MEET (works
# on every Redis with cluster support and takes well under a second, where
# `redis-cli --cluster create` waits in whole seconds).
cluster() {
	command -v redis-cli >/dev/null 2>&1 || {
		echo "with-redis: WARNING: redis-cli missing (package redis-tools)" >&2
		return 1
	}
	local ports=() i
	for i in 1 2 3; do
		start "cluster$i" --cluster-enabled yes --cluster-config-file nodes.conf \
			--cluster-node-timeout 2000 || return 1
		ports+=("$port")
	done
	local lo=(0 5461 10923) hi=(5460 10922 16383)
	for i in 0 1 2; do
		local out
		out=$(redis-cli -p "${ports[$i]}" CLUSTER ADDSLOTS $(seq "${lo[$i]}" "${hi[$i]}") 2>&1)
		[ "$out" = "OK" ] || {
			echo "with-redis: CLUSTER ADDSLOTS on ${ports[$i]}: $out" >&2
			return 1
		}
	done
	for i in 1 2; do
		redis-cli -p "${ports[0]}" CLUSTER MEET 127.0.0.1 "${ports[$i]}" >/dev/null || return 1
	done
	# Wait until every node sees the whole cluster: state ok and 3 known nodes.
	for _ in $(seq 200); do
		local ok=0
		for i in 0 1 2; do
			local info
			info=$(redis-cli -p "${ports[$i]}" CLUSTER INFO 2>/dev/null | tr -d '\r')
			grep -q '^cluster_state:ok$' <<<"$info" && grep -q '^cluster_known_nodes:3$' <<<"$info" &&
				ok=$((ok + 1))
		done
		if [ $ok -eq 3 ]; then
			cluster_addrs="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
			return 0
		fi
		sleep 0.05
	done
	echo "with-redis: WARNING: cluster did not reach cluster_state:ok" >&2
	redis-cli -p "${ports[0]}" CLUSTER INFO >&2
	return 1
}

if [ -z "${LEVEE_REDIS_CLUSTER_ADDRS:-}" ]; then
	cluster_addrs=""
	if cluster; then
		echo "with-redis: redis cluster $version (3 masters) on $cluster_addrs"
		export LEVEE_REDIS_CLUSTER_ADDRS="$cluster_addrs"
	else
		echo "with-redis: WARNING: tests that need LEVEE_REDIS_CLUSTER_ADDRS will skip (or fail with CI=true)" >&2
	fi
fi

"$@"
exit $?
