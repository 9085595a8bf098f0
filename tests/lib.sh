# SPDX-License-Identifier: MIT
# A TAP producer for shell tests: ok/fail/skip print one test point each; finish prints the plan.
tap_n=0
tap_failed=0
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
fail() { tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1)); echo "not ok $tap_n - $*"; }
skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1 # SKIP $2"; }
# check NAME COMMAND...: one test point from a command's exit status.
check() { local name=$1; shift; if "$@"; then ok "$name"; else fail "$name"; fi; }
finish() { echo "1..$tap_n"; [ "$tap_failed" -eq 0 ]; }
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${MEMGOV:=$PWD/memgov}"
