# levee: every directory with a go.mod is a module of its own. The targets
# below find them by their go.mod, so a new module needs no edit here.

SHELL   := /bin/bash
MODULES := $(shell find . -name go.mod -not -path './.git/*' -printf '%h\n' | sed 's|^\./||' | sort)

# make bench BENCH=RollingWindow COUNT=10 CPU=1,2,4
BENCH ?= .
COUNT ?= 5
CPU   ?= 1,2

.PHONY: test bench tidy modules

## test: per module, alone (GOWORK=off): gofmt, go vet, go test -race, tidy drift.
## A throwaway redis-server serves the tests that need one (LEVEE_REDIS_ADDR).
test:
	@scripts/with-redis.sh scripts/test-modules.sh $(MODULES)

## bench: every benchmark in bench/, each in a process of its own; writes bench/RESULTS.md.
bench:
	@cd bench && go run ./cmd/benchrun -bench '$(BENCH)' -count $(COUNT) -cpu $(CPU)

## tidy: go mod tidy in every module.
tidy:
	@for m in $(MODULES); do (cd $$m && GOWORK=off go mod tidy) || exit 1; done

modules:
	@echo $(MODULES)
