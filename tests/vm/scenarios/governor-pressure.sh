#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 512
# vm-timeout: 90
#
# The governor on a real kernel, watched through 'memgov probe --watch':
# - real memory readings: a stage holding 48M in jobs/ shows as hard usage;
# - a 500 ms PSI trigger fires under real memory pressure and admission closes within one
#   window of the pressure starting;
# - admission reopens after the cool-down once the pressure is gone.
. /vm/lib.sh

[ -n "$MEMGOV" ] || skip "no memgov binary in the initramfs (build it first)"

delegate
new_cgroup jobs
echo "+memory +pids" >"$SVC/jobs/cgroup.subtree_control" || fail "cannot enable +memory +pids in jobs/"
new_cgroup jobs/hold.1 memory.max=256M memory.swap.max=0
new_cgroup jobs/press.1 memory.high=16M memory.max=256M memory.swap.max=0

cat >/tmp/policy.ini <<'INI'
[memory]
budget = 400M
headroom = 32M
job_min = 16M
job_max = 256M
[pressure]
trigger = some 100ms 500ms
cooldown = 2s
sample_interval = 200ms
# High enough that only the trigger closes admission here: the 10 s averages decay too slowly
# for a short scenario, and the trigger is what this scenario is about.
some_avg10_max = 60%
full_avg10_max = 60%
slow_start = no
[class.transcribe]
estimate = 64M
INI
"$MEMGOV" check -q /tmp/policy.ini >/dev/null || fail "the scenario's policy is invalid"

# Phase 1: a stage holding 48M of anonymous memory.
sh -c "echo \$\$ >$SVC/jobs/hold.1/cgroup.procs && exec $VM_BIN/hog 48M hold" &
hold=$!
wait_for 50 sh -c "[ \$(cat $SVC/jobs/hold.1/memory.current) -gt 45000000 ]" || fail "the 48M hog did not start"
tw0=$(cut -d' ' -f1 /proc/uptime)
"$MEMGOV" probe --watch -p /tmp/policy.ini -i 200ms -n 60 >/tmp/watch.log 2>&1 &
watch=$!
sleep 2
kill "$hold"
# Phase 2: pressure. The hog thrashes under memory.high=16M.
t0=$(cut -d' ' -f1 /proc/uptime)
sh -c "echo \$\$ >$SVC/jobs/press.1/cgroup.procs && exec $VM_BIN/hog 64M hold" &
press=$!
sleep 3
kill "$press"
# Phase 3: calm again; the watch ends by itself after 60 lines (12 s).
wait "$watch"
cat /tmp/watch.log

start=$(sed -n 's/.* +\([0-9.]*\)s budget.*/\1/p' /tmp/watch.log | head -n 1)
grep -q 'budget 368.0 MiB' /tmp/watch.log || grep -q 'budget 400.0 MiB' /tmp/watch.log || fail "the policy's budget is not shown"
hard=$(awk '/hard/ { for (i = 1; i <= NF; i++) if ($i == "hard") { print $(i+1) $(i+2); exit } }' /tmp/watch.log)
echo "first hard usage: $hard"
case $hard in
4[5-9].*MiB | 5[0-9].*MiB) ;;
*) fail "hard usage with a 48M stage running should be about 48 MiB, watch shows '$hard'" ;;
esac
grep -q 'transcribe 0 (pressure: ' /tmp/watch.log || fail "admission never closed under pressure"
closed=$(grep -n 'transcribe 0 (pressure: ' /tmp/watch.log | head -n 1)
reopen=$(awk '/transcribe 0 \(pressure: / { seen = NR } seen && NR > seen && /transcribe [1-9]/ { print; exit }' /tmp/watch.log)
[ -n "$reopen" ] || fail "admission did not reopen after the cool-down"
grep -q 'triggers [1-9]' /tmp/watch.log || fail "no PSI trigger event was counted"
# Latency: from the pressure hog's start to the first closed line, on the uptime clock (the
# watch's +N.NNNs count from its own start, give or take its start-up).
tw=$(echo "$closed" | sed 's/.* +\([0-9.]*\)s budget.*/\1/')
lat=$(awk -v t0="$t0" -v w0="$tw0" -v tw="$tw" 'BEGIN { printf "%d", (tw - (t0 - w0)) * 1000 }')
echo "closed $lat ms after the pressure started"
[ "$lat" -lt 1000 ] || fail "admission closed ${lat} ms after the pressure started; the trigger window is 500 ms"
diag "hard usage with a 48M stage: $hard; admission closed ~${lat} ms after pressure began (window 500 ms): $(echo "$closed" | sed 's/.*| window/window/')"
diag "reopened: $(echo "$reopen" | sed 's/.*+\([0-9.]*\)s budget.*/+\1s/')"
exit 0
