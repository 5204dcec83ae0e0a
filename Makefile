# recon: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
CUSTOMERS ?= 500

.PHONY: all bootstrap bootstrap-test build release demo test bench clean

all: build

bootstrap:
	@scripts/bootstrap.sh

# Tests also need a headless browser (the HTML report is rendered in chromium).
bootstrap-test:
	@RECON_BOOTSTRAP_TEST=1 scripts/bootstrap.sh

build: bootstrap
	swift build
	@git describe --always --dirty --abbrev=12 2>/dev/null > "$$(swift build --show-bin-path)/recon.commit" || true

release: bootstrap
	swift build -c release
	@git describe --always --dirty --abbrev=12 2>/dev/null > "$$(swift build -c release --show-bin-path)/recon.commit" || true

## Install what is missing, build, start a throwaway PostgreSQL, load the sample mirror, run recon.
demo: build
	@CUSTOMERS=$(CUSTOMERS) scripts/demo.sh

## The test suite against a throwaway PostgreSQL cluster (started and stopped here).
test: bootstrap-test build
	@scripts/test.sh

## Benchmark: recon end to end against psql COPY of the same queries (BENCH_CUSTOMERS=1000000).
bench: release
	@scripts/bench.sh

clean:
	-scripts/pg.sh stop .demo/pg
	-scripts/pg.sh stop .pgtest
	rm -rf .build .demo .pgtest
