#!/usr/bin/env bash
# Tests every module named on the command line on its own (GOWORK=off):
# gofmt, go vet, go test -race -count=1, and go mod tidy drift.
# Prints one line per module and exits non-zero if any module fails.
set -uo pipefail

export GOWORK=off
root=$(cd "$(dirname "$0")/.." && pwd)
passed=0
failed=0
failures=()

for m in "$@"; do
	dir="$root/$m"
	start=$SECONDS
	log=$(mktemp)
	step=""
	(
		cd "$dir" || exit 1
		unformatted=$(gofmt -l . 2>&1)
		if [ -n "$unformatted" ]; then echo "gofmt: files need formatting:"; echo "$unformatted"; exit 11; fi
		go vet ./... || exit 12
		go test -race -count=1 ./... || exit 13
		go mod tidy -diff || { echo "go.mod/go.sum drift: run 'make tidy'"; exit 14; }
	) >"$log" 2>&1
	rc=$?
	case $rc in
		0) step="" ;;
		11) step="gofmt" ;;
		12) step="vet" ;;
		13) step="test" ;;
		14) step="tidy" ;;
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
echo "modules: $passed passed, $failed failed"
[ $failed -eq 0 ]
