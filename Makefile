# Polykey — one entry point for people and CI.
#   make / make build   install what a fresh machine lacks (Debian libfuse2, fuse3; npm packages) and build
#   make test           build, lint (layers, types), then run the whole suite with node's test runner
#   make demo           create the demo node, mount it, list/read/edit, unmount, show history
#   make bench          benchmarks, printed as ratios against a baseline measured in the same run
#   make man            regenerate man/polykey.1 from the command table (committed; a test checks it)
#   make install        polykey on PATH, its man page and shell completions (PREFIX=/usr/local, DESTDIR)
#   make test-posix     pjdfstest's file suites inside a repository of a real mount (root; docs/FUSE.md)
#   make test-fsx       fsx (random I/O checked against memory) inside a repository of a real mount (docs/FUSE.md)
#   make fuzz-client    fuzz the native client's frame reader (libFuzzer; needs clang; not in make test)
SHELL := /bin/bash
NODE ?= node
DEB_PACKAGES := libfuse2 fuse3 libfuse-dev pkg-config git gpg pass tar vim nano sed gocryptfs openssh-client xvfb xclip xsel zsh fish
STAMP := node_modules/.polykey-stamp

.PHONY: all build deps system-deps test lint test-posix test-fsx demo bench fuzz-client clean man install
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
	@$(MAKE) --no-print-directory -C native/client NODE=$(NODE)

# The CLI tests run bin/polykey as a shell does: through the native fast client when it is
# built. These run a second time with Node alone; test/fast/same.test.ts compares the two.
BOTH_MODES := dist/test/cli/cli.test.js dist/test/security/agent.test.js dist/test/agent/unlock.test.js

# Layers, no `any`, no floating promises (eslint.config.js); one format (prettier, .prettierrc.json);
# unused code is a tsc error (tsconfig.json).
lint: deps
	npx eslint src
	npx prettier --check --log-level warn src test bench eslint.config.js

test: build lint
	$(NODE) --test --test-concurrency=2 --test-timeout=300000 $$(find dist/test -name '*.test.js' | sort)
	@if [ -x native/build/client/polykey-client ]; then echo "again without the fast client (POLYKEY_NO_FAST_CLIENT=1): $(BOTH_MODES)"; \
	  POLYKEY_NO_FAST_CLIENT=1 $(NODE) --test --test-concurrency=2 --test-timeout=300000 $(BOTH_MODES); fi

test-posix: build
	bash test/fuse/pjdfstest.sh

test-fsx: build
	bash test/fuse/fsx.sh

demo: build
	bash bin/demo.sh

bench: build
	$(NODE) dist/bench/run.js

fuzz-client: build
	@$(MAKE) --no-print-directory -C native/client fuzz

man: build
	$(NODE) dist/src/cli/man-page.js > man/polykey.1

PREFIX ?= /usr/local
# The program stays where it was built (bin/polykey needs dist/ and node_modules beside it);
# PREFIX gets a link to it, the man page and the completion scripts.
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	ln -sf $(CURDIR)/bin/polykey $(DESTDIR)$(PREFIX)/bin/polykey
	install -m 644 man/polykey.1 $(DESTDIR)$(PREFIX)/share/man/man1/polykey.1
	$(NODE) bin/polykey completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/polykey
	$(NODE) bin/polykey completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_polykey
	$(NODE) bin/polykey completion fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/polykey.fish

clean:
	rm -rf dist native/build
