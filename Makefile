# ctsync: build, test, demo, bench. `make test` is what CI runs.
export PATH := $(PATH):/usr/local/go/bin
GO        ?= go
BIN       := bin
PKGS      := ./...
# Integration tests run real conntrackd/keepalived/nftables in network
# namespaces; one package at a time, the machine has two cores.
ITIMEOUT  ?= 50m
# staticcheck is pinned: a newer one may add checks that fail a clean tree.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/tools/staticcheck

.PHONY: all deps build test unit integration demo bench lint deb test-package golden clean

all: build

deps:
	./scripts/deps.sh

build:
	$(GO) build -o $(BIN)/ ./cmd/ctsync ./cmd/ctsyncd
	@if [ -d cmd/ctsync-lab ]; then $(GO) build -o $(BIN)/ ./cmd/ctsync-lab; fi

$(STATICCHECK):
	GOBIN=$(abspath $(BIN)/tools) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) vet $(PKGS)
	$(GO) vet -tags integration $(PKGS)
	$(STATICCHECK) $(PKGS)
	$(STATICCHECK) -tags integration $(PKGS)
	./scripts/test-completion.sh

unit:
	$(GO) test -race -count=1 $(PKGS)

integration: build
	$(GO) test -tags integration -count=1 -p 1 -timeout $(ITIMEOUT) $(PKGS)

test: deps lint unit integration

demo: deps
	./scripts/demo.sh

bench: build
	./scripts/bench.sh

# Rewrite the golden files under testdata/ from the current code: only the
# packages whose tests compare goldens (they import internal/golden, which
# owns the -update flag) take the flag.
golden:
	$(GO) test $$($(GO) list -f '{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}' $(PKGS) | grep -w 'ctsync/internal/golden' | cut -d' ' -f1) -update
	@git status --short testdata

deb: build
	./scripts/deb.sh

# The .deb installed with apt on a Debian 12 tree (debootstrap, cached in
# PKGTEST_CACHE so that a second run takes under a minute) and booted with
# systemd-nspawn; root. Exit status 2: the machine cannot boot a container,
# and only install, lintian and systemd-analyze verify ran.
PKGTEST_CACHE ?= /var/cache/ctsync-test-package
test-package: deb
	PKGTEST_CACHE=$(PKGTEST_CACHE) DEB=$$(ls -t $(BIN)/ctsync_*.deb | head -1) ./scripts/test-package.sh

clean:
	rm -rf $(BIN)
