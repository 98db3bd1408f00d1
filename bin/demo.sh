#!/usr/bin/env bash
# `make demo`: a built-in demo node (passphrase "demo"), mounted, browsed, edited, unmounted.
set -euo pipefail
cd "$(dirname "$0")/.."
PK="$PWD/bin/polykey"
DEMO="$PWD/demo"
export POLYKEY_NODE="$DEMO/demo.pk" POLYKEY_PASSPHRASE=demo
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
mkdir -p "$DEMO"
if [ ! -f "$POLYKEY_NODE" ]; then
  say "polykey init --kdf interactive   # passphrase: demo"
  "$PK" init --kdf interactive
  "$PK" repo create aws
  "$PK" repo create github
  printf 'AKIAIOSFODNN7EXAMPLE' | "$PK" secret put aws/access-key
  printf 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' | "$PK" secret put aws/secret-key
  printf 'ghp_demo0000000000000000000000000000' | "$PK" secret put github/token
  "$PK" tag add prod aws/access-key
  "$PK" tag add prod aws/secret-key
  "$PK" tag add ci github/token
fi
MNT="$DEMO/mnt"
cleanup() { "$PK" unmount "$MNT" >/dev/null 2>&1 || true; }
trap cleanup EXIT
say "polykey info";                  "$PK" info
say "polykey mount $MNT";            "$PK" mount "$MNT"
say "ls -l $MNT/repos/aws $MNT/tags/prod"; ls -l "$MNT/repos/aws" "$MNT/tags/prod"
say "cat $MNT/repos/aws/access-key"; cat "$MNT/repos/aws/access-key"; echo
# Each run shows the same edit: the key goes back to its example value first (another commit).
printf 'AKIAIOSFODNN7EXAMPLE' > "$MNT/repos/aws/access-key"
say "sed -i 's/EXAMPLE/ROTATED/' $MNT/tags/prod/access-key   # edit through a tag"
sed -i 's/EXAMPLE/ROTATED/' "$MNT/tags/prod/access-key"
say "cat $MNT/repos/aws/access-key"; cat "$MNT/repos/aws/access-key"; echo
say "polykey secret get aws/access-key   # through the mount's agent"; "$PK" secret get aws/access-key; echo
say "polykey unmount $MNT";          "$PK" unmount "$MNT"
trap - EXIT
say "polykey repo log aws";          "$PK" repo log aws
first=$("$PK" repo log aws --json | node -e 'const l=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log(l[l.length-1].commit)')
say "polykey secret get aws/access-key --rev ${first:0:12}   # the first version"; "$PK" secret get aws/access-key --rev "${first:0:12}"; echo
