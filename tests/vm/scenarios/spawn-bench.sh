#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 512
# vm-timeout: 120
#
# Spawn latency on a real cgroup v2 kernel (issue 5): admitted -> exec'd in a fresh cgroup with
# seccomp and the privilege drop, against a bare fork+exec, interleaved in the same run. Only
# the ratio means anything (TCG emulation, sanitizer builds); the figures go to the log, and the
# scenario fails only if the bench cannot run or a path fails.
. /vm/lib.sh

[ -x "$VM_BIN/spawn-bench" ] || skip "no bench/spawn-bench in the build tree"
delegate
out=$("$VM_BIN/spawn-bench" -n 40 -u nobody -c "$SVC" 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] || fail "spawn-bench failed (exit $rc): $(echo "$out" | tail -n 3 | tr '\n' ' ')"
echo "$out" | grep -qi 'without cgroups' && fail "the bench did not use cgroups: $(echo "$out" | head -n 3 | tr '\n' ' ')"
diag "$(echo "$out" | grep -iE 'ratio|clone3|fork|bare|sandbox' | tr '\n' ';' | tr -s ' ')"
exit 0
