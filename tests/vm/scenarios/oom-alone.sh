#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 512
# vm-timeout: 120
#
# A stage over its memory.max is OOM-killed alone: a hog touching 200M in a stage cgroup with
# memory.max=50M and no swap dies by SIGKILL, memory.events.local of its cgroup counts the
# kill, a sibling stage holding a small allocation lives on untouched, and the supervisor
# (this shell) is neither killed nor charged an OOM kill. The VM has more memory than the hog
# wants, so only the cgroup limit can stop it: without the limit it exits 0 and this fails.
#
# Run twice: hog.1 without memory.oom.group, where oom_kill must go up by exactly 1, and
# hog.2 with memory.oom.group=1 as memgov sets it, where oom_group_kill goes up by 1 and
# oom_kill by at least 1: the kernel counts the victim once when it picks it and again when
# the group kill walks the cgroup (both printed as "Killed process" on the console), so a
# one-process stage reads +2. Attribution must test for an increase, not for +1.
. /vm/lib.sh

delegate
new_cgroup jobs memory.max=300M
echo "+memory +pids" >"$SVC/jobs/cgroup.subtree_control" || fail "cannot enable +memory +pids in jobs/"
new_cgroup jobs/small.1 memory.max=50M memory.swap.max=0 memory.oom.group=1
small=$SVC/jobs/small.1

# The sibling: 8M, held until we kill it. cgexec stays here (supervisor) and waits for it.
"$VM_BIN/cgexec" --fork "$small" "$VM_BIN/hog" 8M hold >/tmp/small.out 2>&1 &
wait_for 100 grep -qs '^pid ' /tmp/small.out || fail "the sibling did not start: $(cat /tmp/small.out)"
spid=$(sed -n 's/^pid //p' /tmp/small.out)
wait_for 300 grep -qs 'hog: done' /tmp/small.out || fail "the sibling did not finish its 8M: $(cat /tmp/small.out)"

# run_hog NAME OOM_GROUP: sets KILLS and GROUP_KILLS to the increases of the local counters.
run_hog() {
        new_cgroup "jobs/$1" memory.max=50M memory.swap.max=0 memory.oom.group="$2"
        cg=$SVC/jobs/$1
        k0=$(event_count "$cg" memory.events.local oom_kill)
        g0=$(event_count "$cg" memory.events.local oom_group_kill)
        out=$("$VM_BIN/cgexec" --clone3 "$cg" "$VM_BIN/hog" 200M 2>&1)
        echo "$out"
        KILLS=$(($(event_count "$cg" memory.events.local oom_kill) - k0))
        GROUP_KILLS=$(($(event_count "$cg" memory.events.local oom_group_kill) - g0))
        peak=$(cat "$cg/memory.peak")
        diag "$1 (memory.oom.group=$2): hog $(echo "$out" | sed -n 's/^status //p'), oom_kill +$KILLS, oom_group_kill +$GROUP_KILLS, memory.peak $((peak >> 20))M"
        echo "$out" | grep -qx "status killed 9" ||
                fail "$1: the hog was not SIGKILLed: $(echo "$out" | grep -e '^status' -e 'done' | tr '\n' ' ')"
        [ "$peak" -le $((52 * 1024 * 1024)) ] || fail "$1: memory.peak is $peak, over its 50M limit"
        grep -qs '^populated 0' "$cg/cgroup.events" || fail "$1: not empty after the kill"
}

run_hog hog.1 0
[ $KILLS -eq 1 ] || fail "hog.1: memory.events.local oom_kill went up by $KILLS, wanted 1"
[ $GROUP_KILLS -eq 0 ] || fail "hog.1: oom_group_kill went up by $GROUP_KILLS without memory.oom.group"
total=$KILLS

run_hog hog.2 1
[ $KILLS -ge 1 ] || fail "hog.2: memory.events.local oom_kill did not go up"
[ $GROUP_KILLS -eq 1 ] || fail "hog.2: oom_group_kill went up by $GROUP_KILLS, wanted 1"
[ $KILLS -eq 1 ] || diag "hog.2: one process death counted $KILLS times in oom_kill under memory.oom.group=1"
total=$((total + KILLS))

alive "$spid" || fail "the sibling $spid died"
grep -qx "0::${small#/sys/fs/cgroup}" "/proc/$spid/cgroup" || fail "the sibling left its cgroup"
[ "$(event_count "$small" memory.events.local oom_kill)" -eq 0 ] || fail "the sibling's cgroup saw an OOM kill"
[ "$(event_count "$SVC/supervisor" memory.events oom_kill)" -eq 0 ] || fail "supervisor/ saw an OOM kill"
[ "$(event_count "$SVC/jobs" memory.events oom_kill)" -eq $total ] ||
        fail "jobs/ memory.events (hierarchical) oom_kill is $(event_count "$SVC/jobs" memory.events oom_kill), wanted $total"

# Clean up the sibling the way memgov does, and check it went.
echo 1 >"$small/cgroup.kill"
wait_for 100 grep -qs '^populated 0' "$small/cgroup.events" || fail "the sibling survived cgroup.kill"
wait
exit 0
