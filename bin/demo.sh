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
say "polykey info";                  "$PK" info
say "polykey secret list";           "$PK" secret list
say "polykey secret get aws/access-key"; "$PK" secret get aws/access-key; echo
say "polykey tag list prod";         "$PK" tag list prod
say "polykey repo log aws";          "$PK" repo log aws
