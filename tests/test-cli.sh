#!/bin/bash
# SPDX-License-Identifier: MIT
# The memgov command line: help, version, exit codes, and 'check' on good and bad policies.
. "$(dirname "$0")/lib.sh"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

"$MEMGOV" --help >"$t/help" 2>&1
check "--help exits 0 and lists check" grep -q '^  check ' "$t/help"
check "--help documents exit codes" grep -q 'Exit status: 0 success, 1 failure, 2 usage error' "$t/help"
check "--version" bash -c "'$MEMGOV' --version | grep -qx 'memgov [0-9.]*'"

"$MEMGOV" frobnicate >/dev/null 2>"$t/err"; rc=$?
check "unknown verb exits 2" [ $rc -eq 2 ]
check "unknown verb is named" grep -q "unknown verb 'frobnicate'" "$t/err"
"$MEMGOV" >/dev/null 2>&1; rc=$?
check "no verb exits 2" [ $rc -eq 2 ]
"$MEMGOV" --log-level loud check x >/dev/null 2>"$t/err"; rc=$?
check "bad --log-level exits 2 naming the value" bash -c "[ $rc -eq 2 ] && grep -q \"'loud'\" '$t/err'"

"$MEMGOV" check --help >"$t/out"; rc=$?
check "check --help" bash -c "[ $rc -eq 0 ] && grep -q 'Usage: memgov check' '$t/out'"
"$MEMGOV" check >/dev/null 2>&1; rc=$?
check "check without a file exits 2" [ $rc -eq 2 ]

for p in default demo host-2g; do
        "$MEMGOV" check "$top_srcdir/policies/$p.ini" >"$t/out" 2>"$t/err"; rc=$?
        check "shipped $p.ini passes check" bash -c "[ $rc -eq 0 ] && tail -n1 '$t/out' | grep -qx 'policy OK'"
done

# What check prints is itself a valid policy that checks to the same values.
"$MEMGOV" check "$top_srcdir/policies/host-2g.ini" 2>/dev/null | sed '$d' >"$t/effective.ini"
"$MEMGOV" check "$t/effective.ini" 2>/dev/null | sed '$d' >"$t/effective2.ini"
check "check output round-trips" cmp -s "$t/effective.ini" "$t/effective2.ini"
check "effective values show defaults" grep -qx 'job_min = 64M' "$t/effective.ini"
check "effective values show the file's values" grep -qx 'job_max = 900M' "$t/effective.ini"

"$MEMGOV" check -q "$top_srcdir/policies/demo.ini" >"$t/out" 2>/dev/null
check "check --quiet prints only the verdict" bash -c "[ \"\$(cat '$t/out')\" = 'policy OK' ]"

printf '[memory]\njob_max = 2X\njobmin = 1M\n[pressure]\ntrigger = some 1s 20s\n' >"$t/bad.ini"
"$MEMGOV" check "$t/bad.ini" >"$t/out" 2>"$t/err"; rc=$?
check "bad policy exits 1" [ $rc -eq 1 ]
check "bad policy prints nothing on stdout" [ ! -s "$t/out" ]
check "bad value names file, line, key and form" grep -q "$t/bad.ini:2: \[memory\] job_max = 2X: expected a size such as 512M or 1G" "$t/err"
check "unknown key gets a hint" grep -q "$t/bad.ini:3: unknown key 'jobmin' in \[memory\] (did you mean 'job_min'?)" "$t/err"
check "cross-key error" grep -q "$t/bad.ini:5: \[pressure\] trigger: the window must be from 500ms to 10s" "$t/err"
check "error count" grep -q "3 errors" "$t/err"

"$MEMGOV" check "$t/missing.ini" >/dev/null 2>"$t/err"; rc=$?
check "missing policy exits 1 naming the file" bash -c "[ $rc -eq 1 ] && grep -q '$t/missing.ini: cannot open policy' '$t/err'"

printf '[memory]\nbudget = 2G\n' | "$MEMGOV" check - >"$t/out" 2>&1
check "check reads stdin" grep -qx 'budget = 2G' "$t/out"

for f in "$top_srcdir"/tests/policies/bad-*.ini; do
        want=$(sed -n 's/^# expect: //p' "$f")
        "$MEMGOV" check "$f" >/dev/null 2>"$t/err"; rc=$?
        if [ $rc -eq 1 ] && grep -qF -- "$want" "$t/err"; then ok "$(basename "$f") rejected: $want"
        else fail "$(basename "$f") rejected: $want"; sed 's/^/# /' "$t/err"; fi
done

# probe: what the host offers; on a host with memory on cgroup v1 it must say so and why.
"$MEMGOV" probe >"$t/probe" 2>&1; rc=$?
check "probe exits 0" [ $rc -eq 0 ]
check "probe names a mode" grep -qE '^mode: +(cgroup|watchdog)' "$t/probe"
if awk '$1 == "memory" && $2 != 0 && $4 == 1 { found = 1 } END { exit !found }' /proc/cgroups; then
        check "probe explains watchdog mode on a hybrid host" grep -q 'why: the memory controller is bound to cgroup v1' "$t/probe"
        check "probe gives the fix" grep -q 'fix: boot with systemd.unified_cgroup_hierarchy=1' "$t/probe"
        printf '[memory]\nenforcement = cgroup\n' >"$t/cg.ini"
        "$MEMGOV" probe -p "$t/cg.ini" >/dev/null 2>&1; rc=$?
        check "probe with enforcement = cgroup on a hybrid host exits 3" [ $rc -eq 3 ]
        "$MEMGOV" setup --user nobody >/dev/null 2>"$t/err"; rc=$?
        check "setup refuses a hybrid host with the fix" bash -c "[ $rc -eq 3 ] && grep -q 'bound to cgroup v1' '$t/err'"
else
        skip "probe explains watchdog mode on a hybrid host" "memory is not on cgroup v1 here"
fi
"$MEMGOV" probe --json >"$t/probe.json" 2>/dev/null
check "probe --json is JSON with a mode" python3 -c "import json,sys; d=json.load(open('$t/probe.json')); sys.exit(d['mode'] not in ('cgroup','watchdog'))"
"$MEMGOV" probe --watch -n 2 -i 100ms >"$t/watch" 2>&1; rc=$?
check "probe --watch prints N lines with tokens per class" bash -c "[ $rc -eq 0 ] && [ \$(grep -c ' | window [0-9]*/[0-9]* | download ' '$t/watch') -eq 2 ]"
"$MEMGOV" probe --watch -i 5ms >/dev/null 2>"$t/err"; rc=$?
check "probe --interval below 100ms is refused" bash -c "[ $rc -eq 2 ] && grep -q \"'5ms' is not a duration of at least 100ms\" '$t/err'"
"$MEMGOV" setup --parent ../escape >/dev/null 2>"$t/err"; rc=$?
check "setup refuses a bad cgroup name" bash -c "[ $rc -eq 2 ] && grep -q \"'../escape' is not a cgroup name\" '$t/err'"
"$MEMGOV" setup --user no-such-user-here >/dev/null 2>"$t/err"; rc=$?
check "setup names a missing user" bash -c "[ $rc -eq 1 ] && grep -q \"user 'no-such-user-here' does not exist\" '$t/err'"

finish
