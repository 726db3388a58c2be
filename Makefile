# fieldsync — the two commands people need are `make run` and `make test`.
# Both install what is missing first (scripts/setup.sh), quietly when all is there.

SHELL      := /bin/bash
GO         ?= go
GOBIN      := $(shell $(GO) env GOPATH)/bin
TAGS       := desktop,production,webkit2_41
BIN        := build/bin/fieldsync
VERSION    := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -s -w -X github.com/fieldsync/fieldsync/internal/cli.version=$(VERSION)

.PHONY: all setup build frontend contract run test test-go test-frontend test-desktop test-browser \
        lint bench deb windows drillbit drillbit-stop drillbit-auth cluster cluster-stop clean help

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: ## install apt packages, Go tools, npm packages, Drill jars (idempotent)
	@scripts/setup.sh

frontend: setup ## build the web UI into frontend/dist
	@cd frontend && npm run --silent build >/dev/null

build: frontend ## build the app binary (also the command line) at build/bin/fieldsync
	@mkdir -p build/bin
	@$(GO) build -tags $(TAGS) -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .
	@echo "built $(BIN)"

deb: build ## build the Debian package build/bin/fieldsync_<version>_amd64.deb
	@scripts/package-deb.sh

windows: frontend ## cross-build the Windows app and its signed NSIS installer (FIELDSYNC_SIGN_PFX, FIELDSYNC_SIGN_PASSWORD)
	@VERSION=$(VERSION) scripts/package-windows.sh

run: build ## build and open the app against a local Drillbit (started if none is configured)
	@scripts/run.sh

test: setup ## every test: lint, Go (unit + real Drillbit), frontend, browser, desktop smoke
	@scripts/test.sh

contract: ## regenerate frontend/src/lib/contract.gen.ts from the Go types of the UI contract
	@UPDATE_CONTRACT=1 $(GO) test ./app -run TestContractTSIsCurrent -count=1 >/dev/null && echo "wrote frontend/src/lib/contract.gen.ts"

lint: setup ## gofmt, go vet, staticcheck, TypeScript checks
	@scripts/test.sh lint

bench: build ## benchmarks; results go to docs/BENCHMARKS.md
	@scripts/bench.sh

drillbit: setup ## start the development Drillbit in the background and print its URL
	@scripts/drillbit.sh start

drillbit-auth: setup ## start the development Drillbit with authentication on
	@scripts/drillbit.sh start --auth

drillbit-stop: ## stop the development Drillbit(s)
	@scripts/drillbit.sh stop; scripts/drillbit.sh stop --auth

cluster: setup ## start the development Drill cluster (ZooKeeper, HDFS, two Drillbits) and print its URLs
	@scripts/cluster.sh start

cluster-stop: ## stop the development Drill cluster
	@scripts/cluster.sh stop

clean: ## remove build output
	rm -rf build/bin build/artifacts frontend/dist/assets frontend/dist/index.html
