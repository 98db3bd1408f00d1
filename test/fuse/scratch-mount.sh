# Sourced by test/fuse/pjdfstest.sh and fsx.sh: a fresh node (cheap key derivation) mounted at
# $WORK/mnt, with its own agent folder, unmounted and removed on exit. Needs ROOT and NAME (for
# messages) set; WORK_MODE, if set, is given to $WORK (pjdfstest's other users must reach it).
WORK=$(mktemp -d "/tmp/polykey-$NAME.XXXXXX")
[ -n "${WORK_MODE:-}" ] && chmod "$WORK_MODE" "$WORK"
mkdir -m 700 "$WORK/run"
export POLYKEY_NODE=$WORK/node.pk POLYKEY_PASSPHRASE=$NAME-test-passphrase XDG_RUNTIME_DIR=$WORK/run
PK=("$(command -v node)" "$ROOT/bin/polykey")
cleanup() {
  if grep -q " $WORK/mnt " /proc/mounts; then "${PK[@]}" unmount "$WORK/mnt" >/dev/null 2>&1 || fusermount -u -z "$WORK/mnt"; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
"${PK[@]}" init --kdf test >/dev/null 2>&1 || { echo "test-$NAME: polykey init failed" >&2; exit 1; }
"${PK[@]}" mount "$WORK/mnt" >/dev/null || { echo "test-$NAME: polykey mount failed" >&2; exit 1; }
unset POLYKEY_PASSPHRASE
