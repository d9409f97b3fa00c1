# amicrypt — run `make help` for what each target does.
SHELL       := /usr/bin/env bash
GO          ?= go
BIN         := $(CURDIR)/bin
STATICCHECK := $(BIN)/staticcheck
AWSCLI      ?= /usr/bin/aws
export PATH := $(BIN):$(PATH)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets and what they do
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build amicrypt (with the embedded Temporal for dev/demo) and amicrypt-worker (without) into ./bin
	$(GO) build -o $(BIN)/amicrypt ./cmd/amicrypt
	$(GO) build -o $(BIN)/amicrypt-worker ./cmd/amicrypt-worker

.PHONY: deps
deps: ## Install what tests need and is missing: Debian's awscli (the real AWS CLI the sandbox is checked against)
	@if [ ! -x $(AWSCLI) ]; then \
	  echo "installing Debian's awscli (needed by the AWS CLI wire test)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq awscli >/dev/null; \
	fi

.PHONY: packer-tools
packer-tools: ## Build Packer v1.16.0, packer-plugin-amazon v1.8.2 and packer-sdc from the Go module proxy into ./bin (once; kept when present)
	./scripts/packer-tools.sh $(BIN)

$(BIN)/packer-sdc:
	./scripts/packer-tools.sh $(BIN) sdc

.PHONY: plugin
plugin: ## Build the Packer plugin into ./bin/packer-plugin-amicrypt
	$(GO) build -o $(BIN)/packer-plugin-amicrypt ./packer-plugin

.PHONY: test
test: deps packer-tools ## Run every test (unit, sandbox over aws-sdk-go-v2, the real AWS CLI and the real Packer + amazon-ebs against the sandbox)
	AMICRYPT_AWSCLI=$(AWSCLI) AMICRYPT_PACKER_BIN=$(BIN) $(GO) test -count=1 -timeout 30m ./...

.PHONY: demo
demo: build ## The whole story: embedded Temporal + sandbox + worker, a pipeline, an F2 diagnosis, its fix and a replay
	$(BIN)/amicrypt demo

.PHONY: demo-cli
demo-cli: build deps ## The sandbox alone, driven by the AWS CLI: share, encrypted copy, both launch outcomes
	AWSCLI=$(AWSCLI) ./scripts/demo-awscli.sh

.PHONY: bench
bench: ## Run the benchmarks (figures go in the README): go test -bench, the pipeline (100 targets), the plan (1,000 targets; PLAN_FLAGS, e.g. -v -check)
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./bench/pipeline -targets $(or $(BENCH_TARGETS),100) -copy $(or $(BENCH_COPY),20s) -boot $(or $(BENCH_BOOT),10s) $(BENCH_FLAGS)
	$(GO) run ./bench/plan -targets $(or $(PLAN_TARGETS),1000) $(PLAN_FLAGS)

.PHONY: chaos
chaos: ## Chaos benchmark (not a test): 200 targets under AWS faults, 3 workers killed (-9) mid-run; checks the sandbox for lost, duplicated or leaked resources (CHAOS_FLAGS, e.g. -seed 42 -copy 15m)
	$(GO) run ./bench/chaos $(CHAOS_FLAGS)

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: lint
lint: $(STATICCHECK) ## go vet, staticcheck and gofmt
	$(GO) vet ./...
	$(STATICCHECK) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

.PHONY: generate
generate: $(BIN)/packer-sdc ## Regenerate the trimmed AWS service models the sandbox speaks (needs botocore's models) and the plugin's HCL2 spec (packer-sdc)
	$(GO) generate ./...

.PHONY: clean
clean: ## Remove built binaries and local state
	rm -rf $(BIN) .state
