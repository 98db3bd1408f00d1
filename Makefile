# Polykey — one entry point for people and CI.
#   make / make build   install what a fresh machine lacks (Debian libfuse2, fuse3; npm packages) and build
#   make test           build, then run the whole suite with node's test runner
#   make demo           create the demo node, mount it, list/read/edit, unmount, show history
#   make bench          benchmarks, printed as ratios against a baseline measured in the same run
SHELL := /bin/bash
NODE ?= node
DEB_PACKAGES := libfuse2 fuse3 libfuse-dev pkg-config git gpg tar vim nano sed gocryptfs xvfb xclip xsel
STAMP := node_modules/.polykey-stamp

.PHONY: all build deps system-deps test demo bench clean
all: build

system-deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "apt-get install:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run 'sudo make system-deps')" >&2; exit 1; fi; \
	fi

$(STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(STAMP)

deps: system-deps $(STAMP)

build: deps
	@$(MAKE) --no-print-directory -C native
	npx tsc -p tsconfig.json

test: build
	$(NODE) --test --test-concurrency=2 --test-timeout=300000 $$(find dist/test -name '*.test.js' | sort)

demo: build
	bash bin/demo.sh

bench: build
	$(NODE) dist/bench/run.js

clean:
	rm -rf dist native/build
