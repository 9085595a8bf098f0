#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 512
# vm-timeout: 180
#
# Reaction: from the onset of memory pressure (a hog outside the governed jobs) to the governor
# closing admission, for memgov's PSI triggers vs a poller that reads avg10 every 5 s.
#
# Each trial gets a fresh service-like cgroup S (so no trial inherits the averages of the one
# before) laid out as memgov lays out memgov.service: S/supervisor (where the governors run),
# S/jobs (empty: the governed jobs) and, outside jobs/, S/hog with memory.high far below what
# the hog touches, so it stalls in reclaim and high-limit throttling from its first megabytes
# over. A 'memgov probe --watch' governor watches it, with the default trigger (some 150ms 2s)
# in odd trials and a 500 ms window in even ones: one governor per trial, because the kernel
# checks all triggers of a cgroup at the pace of the shortest window among them, so a 500 ms
# trigger next to the 2 s one would make the 2 s one look faster than it is alone. probe arms
# its trigger on the service cgroup's memory.pressure, which counts every stall below S, this
# hog's included. In every trial, on the same pressure event, a poller reads "some avg10" of
# that same file every 5 s and closes at memgov's default some_avg10_max (10%); its phase is
# random per trial. bench/reaction-trial (a static helper) does the timing on one clock and
# also samples the file's "total" every 2 ms to date the first stall the kernel counted.
#
# It also records how much jobs/memory.pressure grew: a hog outside jobs/ that stalls nothing
# inside it is invisible there, which is why memgov reads the service cgroup's pressure (the
# daemon read jobs/ until this bench showed it).
#
# Fails when a path errors or a memgov governor never closes; never on a time.
# Needs the helper packed: --pack BUILT/reaction-trial=/vm/bin/reaction-trial
. /vm/lib.sh
set -u

TRIALS=${REACTION_TRIALS:-5} # per trigger: twice as many trials in all
LIMIT_MS=20000
POLL_MS=5000
HELPER=$VM_BIN/reaction-trial
OUT=/tmp/reaction

[ -n "${MEMGOV:-}" ] || skip "no memgov binary in the initramfs (build it first)"
[ -x "$HELPER" ] || skip "no reaction-trial helper (--pack .../reaction-trial=/vm/bin/reaction-trial)"
[ -r /proc/pressure/memory ] || skip "PSI is off in this kernel"
delegate
mkdir -p "$OUT" || fail "mkdir $OUT"

# write_policy FILE TRIGGER: the defaults for everything that decides when admission closes;
# an explicit budget so tokens are open before the onset whatever the VM's size.
write_policy() {
        cat >"$1" <<INI
[memory]
budget = 300M
headroom = 32M
job_min = 16M
job_max = 128M
[pressure]
trigger = $2
[class.transcribe]
estimate = 64M
INI
        "$MEMGOV" check -q "$1" >/dev/null || fail "the policy with trigger '$2' is invalid"
}
write_policy /tmp/reaction-2s.ini "some 150ms 2s"
write_policy /tmp/reaction-500ms.ini "some 150ms 500ms"
SOME_MAX=10 # percent: memgov's default [pressure] some_avg10_max, which the policies keep

remove_trial() {
        [ -d "$1" ] || return 0
        echo 1 >"$1/cgroup.kill" 2>/dev/null
        wait_for 50 grep -q '^populated 0' "$1/cgroup.events"
        find "$1" -depth -type d -exec rmdir {} \; 2>/dev/null
        [ ! -d "$1" ] || fail "cannot remove $1"
}

: >"$OUT/trials.txt"
i=1
while [ $i -le $((2 * TRIALS)) ]; do
        if [ $((i % 2)) -eq 1 ]; then
                trig=2s
        else
                trig=500ms
        fi
        S=$SVC/trial.$i
        new_cgroup "trial.$i"
        echo "+memory +pids" >"$S/cgroup.subtree_control" || fail "cannot enable +memory +pids in trial.$i"
        new_cgroup "trial.$i/supervisor"
        new_cgroup "trial.$i/jobs"
        echo "+memory +pids" >"$S/jobs/cgroup.subtree_control" || fail "cannot enable +memory +pids in jobs/"
        new_cgroup "trial.$i/hog" memory.high=16M memory.max=192M memory.swap.max=0
        mkdir -p "$OUT/trial.$i"
        line=$("$HELPER" -s "$S" -c "$S/hog" -j "$S/jobs" -i $POLL_MS -a $SOME_MAX -T $LIMIT_MS \
                -l "$OUT/trial.$i" \
                -G "memgov=$S/supervisor=exec $MEMGOV probe --watch -p /tmp/reaction-$trig.ini -i 1s" \
                -- "$VM_BIN/hog" 160M hold)
        rc=$?
        echo "trial $i: $line"
        [ $rc -eq 0 ] || fail "trial $i: reaction-trial failed (exit $rc): $line"
        grep -q 'watching the jobs cgroup' "$OUT/trial.$i/memgov.log" ||
                fail "trial $i: the governor is not in cgroup mode: $(head -n 2 "$OUT/trial.$i/memgov.log" | tr '\n' ' ')"
        echo "$i trigger=$trig ${line#trial }" >>"$OUT/trials.txt"
        remove_trial "$S"
        i=$((i + 1))
done
cat "$OUT/trials.txt"

# series KEY [TRIGGER [MINUS_KEY]]: KEY's value in every trial (of that trigger, "" = all), one a
# line, followed by MINUS_KEY's value of the same trial when given.
series() {
        grep " trigger=${2:-[^ ]*} " "$OUT/trials.txt" | sed -n "s/.* $1=\([^ ]*\).*/\1/p" >"$OUT/series.a"
        if [ -n "${3:-}" ]; then
                grep " trigger=${2:-[^ ]*} " "$OUT/trials.txt" | sed -n "s/.* $3=\([^ ]*\).*/\1/p" >"$OUT/series.b"
                paste -d' ' "$OUT/series.a" "$OUT/series.b"
        else
                cat "$OUT/series.a"
        fi
}

# stats: "median max" of the values on stdin (each minus the second field when there is one);
# "never" sorts last and stays "never".
stats() {
        awk '{ if ($1 == "never" || $2 == "never") print 1e12; else print $1 - ($2 == "" ? 0 : $2) }' |
                sort -n | awk '{ v[NR] = $1 }
                        function show(x) { return x >= 1e12 ? "never" : sprintf("%.0f", x) }
                        END {
                                if (NR == 0) { print "- -"; exit }
                                m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                                print show(m), show(v[NR])
                        }'
}

[ "$(grep -c . "$OUT/trials.txt")" -eq $((2 * TRIALS)) ] || fail "not every trial reported: $(cat "$OUT/trials.txt")"
st=$(series poll_ms | stats)
poll_med=${st% *} poll_max=${st#* }
st=$(series psi_ms | stats)
psi_med=${st% *} psi_max=${st#* }
jobs_total=$(series extra_total_us | awk '{ s += $1 } END { printf "%d", s }')

# row LABEL KEY TRIGGER: from onset, from the first stall, and the poller's median over this one.
row() {
        onset=$(series "$2" "$3" | stats)
        stall=$(series "$2" "$3" psi_ms | stats)
        ratio=$(awk -v p="$poll_med" -v m="${onset% *}" 'BEGIN { if (p == "never" || m == "never" || m <= 0) print "-"; else printf "%.1f", p / m }')
        echo "| $1 | ${onset% *} | ${onset#* } | ${stall% *} | ${stall#* } | $ratio |"
}

{
        echo "## Reaction"
        echo
        echo "From the onset of memory pressure to admission closing, in one boot of a 2-vCPU TCG VM"
        echo "(kernel $(uname -r)); times in ms, only the ratios carry over to real hardware. Onset: a hog"
        echo "(\`hog 160M\` under memory.high=16M, no swap) starts in a sibling of jobs/ under a fresh"
        echo "service cgroup per trial. \"First stall\": when the first stall counted in the service's"
        echo "memory.pressure began (read every 2 ms; at the first read whose \`some total\` had grown, that"
        echo "growth taken back from the read's time), median $psi_med ms (max $psi_max ms) after the hog's"
        echo "start. memgov: \`memgov probe --watch -i 1s\` (policy defaults apart from the trigger), closed at"
        echo "its first line showing the classes closed for pressure; one trigger per trial, $TRIALS trials"
        echo "each, alternating. Poller: in all $((2 * TRIALS)) trials, on the same event, reads \`some avg10\` of the"
        echo "same file every $((POLL_MS / 1000)) s from a random phase and closes at >= ${SOME_MAX}% (memgov's default some_avg10_max)."
        echo "The first-stall date is an estimate, and a late one when the guest's two emulated CPUs are"
        echo "busy with the hog: the 2 ms reads then come late. Where it lands after memgov closed, the"
        echo "\"from first stall\" figures are negative. Compare the governors from the onset, which is exact."
        echo
        echo "| governor | median from onset | max from onset | median from first stall | max from first stall | poller median / median |"
        echo "|---|---:|---:|---:|---:|---:|"
        row "memgov, trigger some 150ms 2s (default)" memgov_ms 2s
        row "memgov, trigger some 150ms 500ms" memgov_ms 500ms
        row "poll avg10 every $((POLL_MS / 1000)) s" poll_ms ""
        echo
        if [ "$jobs_total" -eq 0 ]; then
                echo "jobs/memory.pressure did not move in any trial (some total +0 µs): a governor watching jobs/"
                echo "would not have closed admission for this hog at all. memgov (the daemon and \`probe --watch\`)"
                echo "reads the service cgroup's memory.pressure, as DESIGN.md says; until this bench showed it, the"
                echo "daemon read jobs/."
        else
                echo "jobs/memory.pressure grew by $jobs_total µs of some-stall over all trials."
        fi
        echo
        echo "Per trial (ms from the hog's start; the poller's avg10 is the reading that closed it):"
        echo
        echo "| trial | trigger | poller phase | first stall | memgov closed | poller closed | poller reads | poller avg10 % | jobs/ some total +µs |"
        echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
        for k in trigger phase_ms psi_ms memgov_ms poll_ms poll_reads poll_avg10 extra_total_us; do
                series $k >"$OUT/col.$k"
        done
        paste -d' ' "$OUT/col.trigger" "$OUT/col.phase_ms" "$OUT/col.psi_ms" "$OUT/col.memgov_ms" \
                "$OUT/col.poll_ms" "$OUT/col.poll_reads" "$OUT/col.poll_avg10" "$OUT/col.extra_total_us" |
                awk '{ printf "| %d |", NR; for (i = 1; i <= NF; i++) printf " %s |", $i; print "" }'
} >"$OUT/reaction.md"
cat "$OUT/reaction.md"
vm_save "$OUT/reaction.md" reaction.md
vm_save "$OUT/trials.txt" reaction-trials.txt
i=1
while [ $i -le $((2 * TRIALS)) ]; do
        for f in memgov poll; do
                [ -f "$OUT/trial.$i/$f.log" ] && vm_save "$OUT/trial.$i/$f.log" "trial$i-$f.log"
        done
        i=$((i + 1))
done
diag "median from onset: trigger 2s $(series memgov_ms 2s | stats | cut -d' ' -f1) ms, 500ms $(series memgov_ms 500ms | stats | cut -d' ' -f1) ms, poll avg10/5s $poll_med ms (max $poll_max); jobs/ some total +${jobs_total}us"
grep -q 'memgov_ms=never' "$OUT/trials.txt" &&
        fail "memgov never closed admission within ${LIMIT_MS} ms of the onset in: $(grep never "$OUT/trials.txt" | tr '\n' ' ')"
exit 0
