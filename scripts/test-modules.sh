#!/usr/bin/env bash
# Tests every module named on the command line on its own (GOWORK=off).
#
# Toolkit modules (go 1.22 in go.mod): gofmt, go vet, go test -race
# -count=1, go mod tidy drift, then go vet and go test again under the real
# go1.22 toolchain (GOTOOLCHAIN=go1.22.12, fetched from the module proxy on
# first use), so a use of a newer standard library fails here. That second
# run passes -short: tests that drive real traffic for seconds (they ran in
# full under -race just before) may skip there.
#
# bench (the newest Go, every peer): gofmt, go vet, go test -count=1 without
# -race (its tests are harnesses around real clients; the Elasticsearch
# client's typedapi alone takes a quarter of an hour to build under -race),
# tidy drift. Its test binaries start building in the background at once, on
# the core the toolkit modules leave idle, so a cold run overlaps the two.
#
# Prints one line per module and exits non-zero if any module fails.
set -uo pipefail

export GOWORK=off
root=$(cd "$(dirname "$0")/.." && pwd)
floor=${LEVEE_GO_FLOOR:-go1.22.12}
passed=0
failed=0
failures=()
total_start=$SECONDS

# Warm the build cache for bench while the toolkit modules test.
warm_pid=""
for m in "$@"; do
	if [ "$m" = bench ]; then
		(cd "$root/bench" && go test -count=1 -run '^$' ./... >/dev/null 2>&1) &
		warm_pid=$!
	fi
done

floor_ok=1
if ! GOTOOLCHAIN=$floor go version >/dev/null 2>&1; then
	floor_ok=0
fi

for m in "$@"; do
	dir="$root/$m"
	start=$SECONDS
	log=$(mktemp)
	toolkit=1
	[ "$m" = bench ] && toolkit=0
	if [ $toolkit -eq 0 ] && [ -n "$warm_pid" ]; then
		wait "$warm_pid" 2>/dev/null
	fi
	(
		cd "$dir" || exit 1
		unformatted=$(gofmt -l . 2>&1)
		if [ -n "$unformatted" ]; then echo "gofmt: files need formatting:"; echo "$unformatted"; exit 11; fi
		go vet ./... || exit 12
		if [ $toolkit -eq 1 ]; then
			go test -race -count=1 ./... || exit 13
		else
			go test -count=1 ./... || exit 13
		fi
		go mod tidy -diff || { echo "go.mod/go.sum drift: run 'make tidy'"; exit 14; }
		if [ $toolkit -eq 1 ]; then
			grep -qx 'go 1.22' go.mod || { echo "go.mod: a toolkit module's go line must be 'go 1.22'"; exit 15; }
			if [ $floor_ok -eq 0 ]; then echo "$floor: toolchain not available (GOTOOLCHAIN=$floor go version failed)"; exit 15; fi
			echo "--- $floor"
			GOTOOLCHAIN=$floor go vet ./... || exit 15
			GOTOOLCHAIN=$floor go test -short -count=1 ./... || exit 15
		fi
	) >"$log" 2>&1
	rc=$?
	case $rc in
		0) step="" ;;
		11) step="gofmt" ;;
		12) step="vet" ;;
		13) step="test" ;;
		14) step="tidy" ;;
		15) step="$floor" ;;
		*) step="setup" ;;
	esac
	took=$((SECONDS - start))
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		printf 'ok    %-22s %4ds\n' "$m" "$took"
		grep -E '^(ok|---|FAIL|\?)' "$log" | grep -v 'no test files' | sed 's/^/      /'
	else
		failed=$((failed + 1))
		failures+=("$m")
		printf 'FAIL  %-22s %4ds  (%s)\n' "$m" "$took" "$step"
		sed 's/^/      /' "$log"
	fi
	rm -f "$log"
done

echo
[ $failed -gt 0 ] && echo "failed modules: ${failures[*]}"
echo "took $((SECONDS - total_start))s"
echo "modules: $passed passed, $failed failed"
[ $failed -eq 0 ]
