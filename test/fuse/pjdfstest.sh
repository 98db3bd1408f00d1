#!/usr/bin/env bash
# `make test-posix`: pjdfstest's file suites, run flat inside one repository of a real mount.
# Not part of `make test` (a few minutes, needs root: pjdfstest switches users). pjdfstest is
# built from source outside the repository's tracked files (build/pjdfstest, ignored by git):
#   PJDFSTEST_SRC=DIR   a checkout of github.com/pjd/pjdfstest to build from (else build/
#                       pjdfstest is reused, else it is cloned with git; if that fails: SKIP)
#   PJDFSTEST_SUITES    the suites to run (default below)
#   PJDFSTEST_TAP=FILE  keep the raw TAP output
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build/pjdfstest
SUITES=${PJDFSTEST_SUITES:-open truncate ftruncate unlink rename link chmod utimensat}
skip() { echo "test-posix: SKIPPED: $*" >&2; exit 0; }

[ "$(id -u)" = 0 ] || skip "pjdfstest needs root (it runs its checks as other users)"
[ -r /dev/fuse ] || skip "/dev/fuse is not usable here"
command -v prove >/dev/null || skip "prove (perl) is missing"
command -v cc >/dev/null || skip "a C compiler is missing"

if [ ! -f "$BUILD/pjdfstest.c" ]; then
  rm -rf "$BUILD" && mkdir -p "$(dirname "$BUILD")"
  if [ -n "${PJDFSTEST_SRC:-}" ]; then cp -r "$PJDFSTEST_SRC" "$BUILD" || skip "cannot copy $PJDFSTEST_SRC"
  else git clone -q --depth 1 https://github.com/pjd/pjdfstest "$BUILD" 2>/dev/null || skip "no pjdfstest source (set PJDFSTEST_SRC to a checkout of github.com/pjd/pjdfstest)"
  fi
fi
if [ ! -x "$BUILD/pjdfstest" ] || [ "$BUILD/pjdfstest.c" -nt "$BUILD/pjdfstest" ]; then
  # What autoconf would find on Linux with glibc (the source has no generated configure).
  {
    for h in SYS_SYSMACROS_H FACCESSAT FCHMODAT FCHOWNAT FSTATAT LINKAT MKDIRAT MKFIFOAT MKNODAT OPENAT \
      POSIX_FALLOCATE READLINKAT RENAMEAT SYMLINKAT UNLINKAT UTIMENSAT; do echo "#define HAVE_$h 1"; done
  } > "$BUILD/config.h"
  cc -D_GNU_SOURCE -O1 -o "$BUILD/pjdfstest" "$BUILD/pjdfstest.c" || { echo "test-posix: pjdfstest does not build" >&2; exit 1; }
fi

NAME=posix WORK_MODE=755 # pjdfstest's other users must be able to reach the mountpoint (the mount still refuses them)
. "$ROOT/test/fuse/scratch-mount.sh"
mkdir "$WORK/mnt/repos/posix"
cd "$WORK/mnt/repos/posix" || exit 1

TAP=${PJDFSTEST_TAP:-$WORK/tap}
: > "$TAP"
total=0 failed=0
printf '%-10s %6s %6s\n' suite tests failed
for suite in $SUITES; do
  t=0 f=0
  for file in "$BUILD"/tests/"$suite"/*.t; do
    out=$(timeout 900 bash "$file" 2>&1)
    echo "# $suite/$(basename "$file")" >> "$TAP"
    echo "$out" >> "$TAP"
    t=$((t + $(grep -c '^ok \|^not ok ' <<<"$out")))
    f=$((f + $(grep -c '^not ok ' <<<"$out")))
  done
  printf '%-10s %6d %6d\n' "$suite" "$t" "$f"
  total=$((total + t)) failed=$((failed + f))
done
printf '%-10s %6d %6d\n' total "$total" "$failed"
[ -n "${PJDFSTEST_TAP:-}" ] && echo "TAP output: $TAP"
exit 0
