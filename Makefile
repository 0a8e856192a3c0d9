# levee: every directory with a go.mod is a module of its own. The targets
# below find them by their go.mod, so a new module needs no edit here.

SHELL   := /bin/bash
# bench last in the list (make test builds it in a lane of its own).
MODULES := $(shell find . -name go.mod -not -path './.git/*' -not -path '*/testdata/*' -printf '%h\n' | sed 's|^\./||' | sort | awk '$$0 == "bench" { last = $$0; next } { print } END { if (last != "") print last }')

# make bench BENCH=RollingWindow COUNT=10 CPU=1,2,4
BENCH ?= .
COUNT ?= 5
CPU   ?= 1,2

.PHONY: test bench tidy modules readme

## test: per module, alone (GOWORK=off): gofmt, tidy drift, and for the toolkit modules
## go vet -race + go test -race under the go1.22.12 toolchain, then go vet + go test -short
## under the newest Go; bench: go test (no -race), go vet. See scripts/test-modules.sh.
## A throwaway redis-server serves the tests that need one (LEVEE_REDIS_ADDR).
test:
	@scripts/with-redis.sh scripts/test-modules.sh $(MODULES)

## bench: every benchmark in bench/, each in a process of its own; writes bench/RESULTS.md.
bench:
	@cd bench && go run ./cmd/benchrun -bench '$(BENCH)' -count $(COUNT) -cpu $(CPU)

## readme: copy the runnable examples into the READMEs' Go blocks (a test in bench checks them).
readme:
	@cd bench && go run ./cmd/readme -root ..

## tidy: go mod tidy in every module.
tidy:
	@for m in $(MODULES); do (cd $$m && GOWORK=off go mod tidy) || exit 1; done

modules:
	@echo $(MODULES)
