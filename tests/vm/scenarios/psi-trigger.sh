#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 512
# vm-timeout: 90
#
# A PSI trigger with a 500 ms window on a stage cgroup's memory.pressure (privileged: root has
# CAP_SYS_RESOURCE here, so sub-2 s windows and the real-time poller are allowed) fires under
# real memory pressure and stays quiet without it.
#
# Pressure: a hog touching 64M of anonymous memory in a cgroup with memory.high=16M and no
# swap. Every charge over memory.high sends it into reclaim that finds nothing to reclaim and
# then into the kernel's over-high throttling sleep, both counted as memory stall, so "some"
# stall is near 100% until it is killed. Page-cache thrashing would depend on disk speed
# under emulation; this does not. Quiet: the same cgroup setup with a 4M process, for four
# windows.
. /vm/lib.sh

[ -r /proc/pressure/memory ] || fail "PSI is off in this kernel (no /proc/pressure/memory), psi=1 was passed"
TRIGGER="some 100000 500000"

delegate
new_cgroup jobs
echo "+memory +pids" >"$SVC/jobs/cgroup.subtree_control" || fail "cannot enable +memory +pids in jobs/"
new_cgroup jobs/quiet.1 memory.high=16M memory.max=256M memory.swap.max=0
new_cgroup jobs/press.1 memory.high=16M memory.max=256M memory.swap.max=0

quiet=$("$VM_BIN/psi-wait" -c "$SVC/jobs/quiet.1" "$SVC/jobs/quiet.1/memory.pressure" "$TRIGGER" 2000 \
        "$VM_BIN/hog" 4M hold 2>&1)
rc=$?
echo "$quiet"
[ $rc -ne 2 ] || fail "psi-wait (quiet) failed: $quiet"
[ $rc -eq 1 ] || fail "the trigger fired without pressure: $(echo "$quiet" | grep -e event -e pressure | tr '\n' ' ')"

out=$("$VM_BIN/psi-wait" -c "$SVC/jobs/press.1" "$SVC/jobs/press.1/memory.pressure" "$TRIGGER" 15000 \
        "$VM_BIN/hog" 64M hold 2>&1)
rc=$?
echo "$out"
[ $rc -ne 2 ] || fail "psi-wait (pressure) failed: $out"
high=$(event_count "$SVC/jobs/press.1" memory.events high)
[ $rc -eq 0 ] || fail "no trigger event in 15 s under pressure (memory.events high=$high): $(echo "$out" | grep pressure | tr '\n' ' ')"

diag "'$TRIGGER' fired $(echo "$out" | sed -n 's/^event after //p') after the hog started (memory.events high=$high)"
diag "quiet: $(echo "$quiet" | sed -n 's/^no event/no event/p') with a 4M process under the same limits"
diag "under pressure: $(echo "$out" | sed -n 's/^pressure //p' | head -n 1)"
exit 0
