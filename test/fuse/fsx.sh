#!/usr/bin/env bash
# `make test-fsx`: fsx (the file system exerciser: random reads, writes, truncates, mapped reads
# and writes and close/reopen, each checked against a copy in memory) on a real mount, inside a
# repository. Not part of `make test`. fsx is built from source outside the tracked files
# (build/fsx, ignored by git):
#   FSX_SRC=FILE   a standalone fsx.c (LTP's classic testcases/kernel/fs/fsx-linux/fsx-linux.c);
#                  else build/fsx/fsx.c is reused; else: SKIP
#   FSX_OPS=N      operations per run (default 50000)
# A file with several names (a tagged secret) is opened around the page cache (docs/FUSE.md
# "Readers racing a save"), where mmap is not offered: its run leaves out the mapped operations.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build/fsx
OPS=${FSX_OPS:-50000}
skip() { echo "test-fsx: SKIPPED: $*" >&2; exit 0; }
[ -r /dev/fuse ] || skip "/dev/fuse is not usable here"
command -v cc >/dev/null || skip "a C compiler is missing"
mkdir -p "$BUILD"
if [ -n "${FSX_SRC:-}" ]; then cp "$FSX_SRC" "$BUILD/fsx.c" || skip "cannot read $FSX_SRC"; fi
[ -f "$BUILD/fsx.c" ] || skip "no fsx source (set FSX_SRC to LTP's standalone fsx-linux.c)"
if [ ! -x "$BUILD/fsx" ] || [ "$BUILD/fsx.c" -nt "$BUILD/fsx" ]; then
  cc -O1 -w -o "$BUILD/fsx" "$BUILD/fsx.c" || { echo "test-fsx: fsx does not build" >&2; exit 1; }
fi

NAME=fsx
. "$ROOT/test/fuse/scratch-mount.sh"
R=$WORK/mnt/repos/fsx
mkdir "$R" "$WORK/mnt/tags/t" && : > "$R/tagged" && ln "$R/tagged" "$WORK/mnt/tags/t/tagged" || { echo "test-fsx: setup failed" >&2; exit 1; }

failed=0
run() { # NAME FSX-ARGS...
  local name=$1; shift
  if out=$("$BUILD/fsx" -q -N "$OPS" "$@" 2>&1 | tail -20); then printf '%-40s ok\n' "$name"
  else printf '%-40s FAILED\n%s\n' "$name" "$out"; failed=1; fi
}
for seed in 1 2 3; do run "repos/fsx/f$seed (seed $seed)" -c 20 -S "$seed" "$R/f$seed"; done
run "tags/t/tagged (two names, no mmap)" -R -W -c 20 -S 4 "$WORK/mnt/tags/t/tagged"
exit $failed
