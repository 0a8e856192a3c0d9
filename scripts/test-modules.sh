#!/usr/bin/env bash
# Tests every module named on the command line on its own (GOWORK=off).
#
# Toolkit modules (go 1.22 in go.mod):
#   gofmt, the go line, go mod tidy drift;
#   under the real go1.22 toolchain (GOTOOLCHAIN=go1.22.12, fetched from the
#   module proxy on first use): go test -race, every test, and go vet -race,
#   so a use of a newer standard library fails here;
#   under the newest Go: go test -short and go vet, without -race (files
#   behind a race build tag are vetted by one pass or the other; -short lets
#   tests that drive real traffic for seconds skip, they ran in full).
# bench (the newest Go, every peer): gofmt, go test without -race (its tests
# are harnesses around real clients; packages with benchmarks only are
# vetted, not run), go vet, tidy drift.
#
# The work is a pipeline, which is what keeps a cold run on two cores short:
# one lane builds the toolkit's test binaries module after module, another
# builds bench's, and each binary runs as soon as it is built, at most
# LEVEE_TEST_JOBS (default 3) at a time, while the lanes go on compiling.
# Binaries run as go test runs them (in the package directory, with
# -test.timeout=10m and -test.paniconexit0); go test's own vet pass is off
# because go vet runs on its own. Builds of the newest Go whose tests check
# behaviour, not speed, skip the optimiser (-gcflags=all=-N -l: a third less
# compile time; make bench builds the benchmarks optimised) and share the
# standard library's compiled packages and vet facts with bench.
#
# Prints one block per module, in the order given, and exits non-zero if any
# module fails. LEVEE_TEST_TIMES=1 adds each step's seconds.
set -uo pipefail

export GOWORK=off
root=$(cd "$(dirname "$0")/.." && pwd)
floor=${LEVEE_GO_FLOOR:-go1.22.12}
jobs=${LEVEE_TEST_JOBS:-3}
timeout=${LEVEE_TEST_TIMEOUT:-10m}
total_start=$SECONDS

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# Test binaries live on between runs, one directory per checkout: go test -c
# leaves a binary that is up to date alone, so a warm run links nothing.
# Without a writable cache directory they live in the run's own.
bins=${LEVEE_TEST_BIN:-${XDG_CACHE_HOME:-${HOME:-}/.cache}/levee-test/$(printf %s "$root" | cksum | cut -d' ' -f1)}
if ! mkdir -p "$bins" 2>/dev/null || [ ! -w "$bins" ]; then
	bins=$work/bins
	mkdir -p "$bins" || exit 1
fi
# -w: no DWARF tables (tracebacks and race reports do not need them), a third
# less link time on a cold run.
ldflags=-ldflags=-w
# The newest Go's builds (see above); go vet gets the same flags, so it
# shares their compiled dependencies.
noopt="-gcflags=all=-N -l"

# The go1.22 toolchain downloads while the first lane compiles.
(
	GOTOOLCHAIN=$floor go version >"$work/floor.log" 2>&1
	echo $? >"$work/floor.rc.tmp" && mv "$work/floor.rc.tmp" "$work/floor.rc"
) &

# At most $jobs test binaries run at once: a run takes a token from the fifo
# and puts it back when done.
mkfifo "$work/tokens"
exec 3<>"$work/tokens"
for _ in $(seq "$jobs"); do printf x >&3; done

key() { echo "${1//\//_}"; } # a module path as a file name
modpath() { sed -n 's/^module[[:space:]]*//p' "$root/$1/go.mod"; } # a module's import path
newest=$(go env GOVERSION)

# step MODULE NAME COMMAND...: runs COMMAND in the module's directory, its
# output in a log; records the outcome; returns its exit code.
step() {
	local m=$1 name=$2 k start rc
	shift 2
	k=$(key "$m")
	start=$SECONDS
	(cd "$root/$m" && "$@") >"$work/$k.$name.log" 2>&1
	rc=$?
	echo "$rc $((SECONDS - start)) $((SECONDS - total_start))" >"$work/$k.$name.rc"
	return $rc
}

# run MODULE NAME DIR BINARY PKG ARGS...: runs a test binary in the
# background, in DIR, once a token is free, and reports like go test.
run() {
	local m=$1 name=$2 dir=$3 bin=$4 pkg=$5 k
	shift 5
	k=$(key "$m")
	(
		read -r -n 1 -u 3
		start=${EPOCHREALTIME/./}
		(cd "$dir" && "$bin" -test.paniconexit0 -test.timeout="$timeout" "$@" 3>&-) >"$work/$k.$name.out" 2>&1
		rc=$?
		printf x >&3
		ms=$(((${EPOCHREALTIME/./} - start) / 1000))
		took=$(printf '%d.%03ds' $((ms / 1000)) $((ms % 1000)))
		if [ $rc -eq 0 ]; then
			printf 'ok  \t%s\t%s\n' "$pkg" "$took" >"$work/$k.$name.log"
		else
			{ cat "$work/$k.$name.out"; printf 'FAIL\t%s\t%s\n' "$pkg" "$took"; } >"$work/$k.$name.log"
		fi
		echo "$rc $took $((SECONDS - total_start))" >"$work/$k.$name.rc"
	) &
}

gofmt_check() {
	local out
	out=$(gofmt -l . 2>&1)
	[ -z "$out" ] && return 0
	echo "gofmt: files need formatting:"
	echo "$out"
	return 1
}

tidy_check() { go mod tidy -diff || { echo "go.mod/go.sum drift: run 'make tidy'"; return 1; }; }

goline_check() { grep -qx 'go 1.22' go.mod || { echo "go.mod: a toolkit module's go line must be 'go 1.22'"; return 1; }; }

# A toolkit module (one package at its root), first pass: the floor.
floorpass() {
	local m=$1 k dir
	k=$(key "$m")
	dir="$root/$m"
	step "$m" 1gofmt gofmt_check
	step "$m" 2goline goline_check
	step "$m" 3tidy tidy_check
	while [ ! -e "$work/floor.rc" ]; do sleep 0.2; done
	if [ "$(cat "$work/floor.rc")" != 0 ]; then
		{ echo "$floor: toolchain not available (GOTOOLCHAIN=$floor go version failed):"; cat "$work/floor.log"; } >"$work/$k.4build-$floor.log"
		echo "1 0" >"$work/$k.4build-$floor.rc"
		return
	fi
	if step "$m" "4build-$floor" env GOTOOLCHAIN="$floor" go test -race -vet=off "$ldflags" -c -o "$bins/$k.floor.test" . && [ -x "$bins/$k.floor.test" ]; then
		run "$m" "5race-$floor" "$dir" "$bins/$k.floor.test" "$(modpath "$m") [$floor -race]"
	fi
	step "$m" "6vet-$floor" env GOTOOLCHAIN="$floor" go vet -race ./...
}

# Second pass: the newest Go, built as bench is built, so the two share the
# standard library's compiled packages and vet facts.
newestpass() {
	local m=$1 k dir
	k=$(key "$m")
	dir="$root/$m"
	if step "$m" 7build go test -vet=off "$noopt" "$ldflags" -c -o "$bins/$k.test" . && [ -x "$bins/$k.test" ]; then
		run "$m" 8short "$dir" "$bins/$k.test" "$(modpath "$m") [$newest -short]" -test.short
	fi
	step "$m" 9vet go vet "$noopt" ./...
}

# bench: many packages; only those with tests, examples or fuzz targets run.
bench() {
	local m=$1 k dir pkgs=() p d
	local -A dirs=()
	k=$(key "$m")
	dir="$root/$m"
	step "$m" 1gofmt gofmt_check
	while read -r p d; do
		if grep -qE '^func (Test|Example|Fuzz)' "$d"/*_test.go 2>/dev/null; then
			pkgs+=("$p")
			dirs[$p]=$d
		fi
	done < <(cd "$dir" && go list -f '{{.ImportPath}} {{.Dir}}' ./... 2>"$work/$k.list.log")
	# go test -c -o DIR/ names a binary after the package's last path
	# element, so packages sharing one are built in separate commands.
	local -A seen=()
	local group=() rest=() g=0 b
	while [ ${#pkgs[@]} -gt 0 ]; do
		group=() rest=() seen=()
		for p in "${pkgs[@]}"; do
			if [ -n "${seen[${p##*/}]:-}" ]; then rest+=("$p"); else seen[${p##*/}]=1; group+=("$p"); fi
		done
		g=$((g + 1))
		b="$bins/$k.$g"
		mkdir -p "$b"
		if step "$m" "3build$g" go test -vet=off "$noopt" "$ldflags" -c -o "$b/" "${group[@]}"; then
			for p in "${group[@]}"; do
				[ -x "$b/${p##*/}.test" ] || continue
				run "$m" "4test-$(key "${p#github.com/levee-go/levee/}")" "${dirs[$p]}" "$b/${p##*/}.test" "$p"
			done
		fi
		pkgs=("${rest[@]}")
	done
	# After the builds, so the tests run while vet computes its facts.
	step "$m" 5vet go vet "$noopt" ./...
	step "$m" 6tidy tidy_check
}

# The slowest test runs start first: modules that talk to Redis lead.
toolkit_order=()
for m in "$@"; do case $m in *redis*) toolkit_order+=("$m") ;; esac; done
for m in "$@"; do case $m in bench | *redis*) ;; *) toolkit_order+=("$m") ;; esac; done

lane_pids=()
(
	for m in "${toolkit_order[@]}"; do floorpass "$m"; done
	for m in "${toolkit_order[@]}"; do newestpass "$m"; done
	wait
) &
lane_pids+=($!)
for m in "$@"; do
	if [ "$m" = bench ]; then
		( bench bench; wait ) &
		lane_pids+=($!)
	fi
done
wait "${lane_pids[@]}"

passed=0
failed=0
failures=()
for m in "$@"; do
	k=$(key "$m")
	bad=()
	ran=0
	for rc in "$work/$k".*.rc; do
		[ -e "$rc" ] || continue
		ran=$((ran + 1))
		read -r code _ <"$rc"
		[ "$code" = 0 ] || bad+=("$rc")
	done
	if [ ${#bad[@]} -eq 0 ] && [ $ran -gt 0 ]; then
		passed=$((passed + 1))
		echo "ok    $m"
		cat "$work/$k".*.log | grep -E '^(ok|FAIL|---)' | sed 's/^/      /'
	else
		failed=$((failed + 1))
		failures+=("$m")
		steps=()
		for rc in "${bad[@]}"; do s=${rc#"$work/$k".}; s=${s%.rc}; steps+=("${s#[0-9]}"); done
		echo "FAIL  $m  (${steps[*]:-no steps ran})"
		for rc in "${bad[@]}"; do sed 's/^/      /' "${rc%.rc}.log"; done
	fi
done

if [ -n "${LEVEE_TEST_TIMES:-}" ]; then # LEVEE_TEST_TIMES=1: each step's seconds, and when it ended
	echo
	for rc in "$work"/*.rc; do
		n=${rc#"$work/"}
		read -r _ took ended <"$rc"
		printf '%-40s %10s  ended at %ss\n' "${n%.rc}" "$took" "${ended:-?}"
	done
fi

echo
[ $failed -gt 0 ] && echo "failed modules: ${failures[*]}"
echo "took $((SECONDS - total_start))s"
echo "modules: $passed passed, $failed failed"
[ $failed -eq 0 ]
