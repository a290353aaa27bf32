# oomtrace: run "make help" for the targets.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN     := bin/oomtrace
# make image: the image's name, its architectures, where the binaries and
# the docker-archive files go, and the podman that builds it.
IMAGE       ?= oomtrace
IMAGE_ARCHES ?= amd64 arm64
IMAGE_DIR   ?= bin/image
PODMAN      ?= podman

.PHONY: vmtest help build image generate check-generated check test test-unit bench lint clean demo

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-17s %s\n", $$1, $$2}'

build: ## build bin/oomtrace (needs no clang: the BPF objects are committed)
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/oomtrace

image: ## build the container image offline for amd64 and arm64 with podman (FROM scratch, a static binary): IMAGE:VERSION-ARCH, and IMAGE_DIR/oomtrace-ARCH.tar for docker load
	@command -v $(firstword $(PODMAN)) >/dev/null || { echo "make image needs podman: apt-get install podman"; exit 1; }
	@set -e; for arch in $(IMAGE_ARCHES); do \
		echo "image: $(IMAGE):$(VERSION)-$$arch"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $(IMAGE_DIR)/linux-$$arch/oomtrace ./cmd/oomtrace; \
		$(PODMAN) build --quiet --platform linux/$$arch -f Dockerfile.prebuilt -t $(IMAGE):$(VERSION)-$$arch $(IMAGE_DIR) >/dev/null; \
		rm -f $(IMAGE_DIR)/oomtrace-$$arch.tar; \
		$(PODMAN) save --quiet --format docker-archive -o $(IMAGE_DIR)/oomtrace-$$arch.tar $(IMAGE):$(VERSION)-$$arch; \
	done

generate: ## regenerate the BPF objects from bpf/ (needs clang and libbpf-dev)
	$(GO) generate ./internal/tracer ./internal/bench

check-generated: generate ## fail if regenerating the BPF objects changes them
	@git diff --exit-code -- internal/tracer internal/bench || { \
		echo "generated BPF objects are stale: run make generate and commit them"; exit 1; }

check: lint check-generated test vmtest ## what CI runs: lint, generated objects up to date, all tests, the kernel matrix (as root)

# The packages that run goroutines of their own, tested again under the race
# detector.
RACE_PKGS := ./internal/attribute ./internal/browser ./internal/container ./internal/kernlog \
	./internal/ksym ./internal/memcg ./internal/memstate ./internal/metrics ./internal/pipeline \
	./internal/sampler ./internal/stream ./internal/tracer

test: ## all tests, the BPF and real-OOM ones included (as root), and the concurrent packages under the race detector
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race $(RACE_PKGS)

test-unit: ## only the tests that need no root and cause no OOM
	$(GO) test -count=1 -short ./...

vmtest: ## the kernel matrix under qemu: Debian 5.10, 6.1, 6.12, 7.2, 7.3 (amd64), 6.12, 7.3 (arm64) in every mode (as root)
	./vmtest.sh

demo: build ## cause a small memcg OOM and trace it (as root)
	$(BIN) demo

bench: build ## measure cost, latency, loss and start-up against bpftrace and perf; writes BENCHMARKS.md (as root, ~15 min; up to ~40 when the storm needs more rounds to decide its throughput and reclaim episode targets, and the drain more trials for the CPU per event)
	@command -v bpftrace >/dev/null && command -v perf >/dev/null || { \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y bpftrace linux-perf; }
	CGO_ENABLED=0 $(GO) build -o bin/oombench ./bench/cmd/oombench
	bin/oombench --oomtrace $(BIN) --out BENCHMARKS.md

lint: ## gofmt, go vet (amd64 and arm64) and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet ./...
	GOARCH=arm64 $(GO) vet ./...
	$(GO) tool staticcheck ./...

clean: ## remove build output
	rm -rf bin
