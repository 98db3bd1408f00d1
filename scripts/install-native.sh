#!/bin/sh
# npm's install step for the packed package: build the FUSE binding and the hardening addon for
# this machine. Without them every command works except `polykey mount`, which then says what it
# needs; so a failed build is one clear line, never a failed install.
cd "$(dirname "$0")/.." || exit 0
[ -f native/Makefile ] || exit 0
if make -C native >/dev/null 2>&1; then exit 0; fi
echo "polykey: note: native addons not built (needs make, a C compiler, pkg-config and libfuse 2 headers: apt-get install build-essential pkg-config libfuse-dev); everything but 'polykey mount' works" >&2
exit 0
