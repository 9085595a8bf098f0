#!/bin/bash
# SPDX-License-Identifier: MIT
# The tools behind bench/run, so the report cannot rot between bench runs: the workload is the
# same every time, ramp really holds the memory its input asks for, the lower bound is right, and
# the report computes its ratios and goals from the data it is given (synthetic data here; the
# real runs are bench/run's).
. "$(dirname "$0")/lib.sh"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
RAMP=$PWD/bench/ramp

if ! command -v python3 >/dev/null; then
        skip "bench tools" "no python3"
        finish
        exit
fi

python3 "$top_srcdir/bench/workload.py" "$t/wl"
check "workload: 24 timed and 8 training jobs" bash -c "[ \$(wc -l <'$t/wl/jobs.txt') -eq 24 ] && [ \$(wc -l <'$t/wl/train.txt') -eq 8 ]"
check "workload: the fixed seed gives the same first jobs" bash -c "head -n 3 '$t/wl/jobs.txt' | tr '\n' ' ' | grep -qx 'j00 370 j01 114 j02 550 '"
check "workload: footprints within 64-600 MiB" awk '$2 < 64 || $2 > 600 { bad = 1 } END { exit bad }' "$t/wl/jobs.txt"
check "workload: each file is MIB KiB" bash -c "while read -r id mib; do [ \$(stat -c %s '$t/wl/www/'\$id.wav) -eq \$((mib * 1024)) ] || exit 1; done <'$t/wl/jobs.txt'"
check "workload: the files are WAV" bash -c "head -c 12 '$t/wl/www/j00.wav' | LC_ALL=C grep -aq '^RIFF.*WAVE'"
python3 "$top_srcdir/bench/workload.py" "$t/wl2"
check "workload: a second run is identical" diff -r "$t/wl" "$t/wl2"

check "lower bound: two jobs over half the budget run one after the other" python3 -c "
import sys; sys.path.insert(0, '$top_srcdir/bench'); import workload as w
lb, p = w.lower_bound([600, 600], 1024)
assert abs(lb - 2 * w.run_seconds(600)) < 1e-9 and p['big'] == lb, (lb, p)"
check "lower bound: small jobs are bound by their area" python3 -c "
import sys; sys.path.insert(0, '$top_srcdir/bench'); import workload as w
lb, p = w.lower_bound([100] * 40, 1000)
assert abs(lb - 40 * 100 * w.run_seconds(100) / 1000) < 1e-9 and lb == p['area'], (lb, p)"

# ramp: 4 KiB of input = 4 MiB; a short run.
head -c 4096 /dev/zero >"$t/in"
if [ -x "$RAMP" ] && [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%M' -o "$t/rss" "$RAMP" -b 0.2 -g 1 "$t/in" "$t/out" 2>"$t/err"
        rc=$?
        check "ramp exits 0 and writes its transcript" bash -c "[ $rc -eq 0 ] && grep -q '^transcript of .*: 4 MiB' '$t/out'"
        check "ramp holds its footprint (peak RSS >= 4 MiB)" bash -c "[ \$(cat '$t/rss') -ge 4096 ]"
        "$RAMP" "$t/missing" >/dev/null 2>"$t/err"
        rc=$?
        check "ramp names a missing input" bash -c "[ $rc -eq 1 ] && grep -q 'missing' '$t/err'"
else
        skip "ramp" "no bench/ramp in the build tree or no /usr/bin/time"
fi

# The report, on synthetic data: serial 100 s, memgov 40 s, static4 lost two jobs.
d=$t/data
mkdir -p "$d/tp-serial" "$d/tp-memgov-warm" "$d/tp-static4"
summary() {
        printf 'strategy=%s\njobs=24\ndone=%s\nmakespan_s=%s\npeak_bytes=900000000\nbudget_bytes=1073741824\noom_kills=%s\noom_victims=%s\nsupervisor_survived=yes\n' "$@"
}
summary serial 24 100.0 0 none >"$d/tp-serial/summary.txt"
summary memgov-warm 24 40.0 0 none >"$d/tp-memgov-warm/summary.txt"
summary static4 22 20.0 2 ramp:2 >"$d/tp-static4/summary.txt"
printf '# t0_realtime_us 1\n0 0 0 0\n100 104857600 104857600 0\n' >"$d/tp-memgov-warm/mem.txt"
python3 "$top_srcdir/bench/report.py" --workload "$t/wl" --data "$d" --out "$t/rep" >"$t/report.log" 2>&1
rc=$?
check "report: runs on partial data" [ $rc -eq 0 ]
R=$t/rep/REPORT.md
check "report: the model's lower bound without the serial joblog" grep -q "The serial run's per-job times are missing" "$R"
lb=$(python3 -c "
import sys; sys.path.insert(0, '$top_srcdir/bench'); import workload as w
print('%.2f' % (40.0 / w.lower_bound([int(l.split()[1]) for l in open('$t/wl/jobs.txt')], 1024)[0]))")
check "report: memgov's ratio to the lower bound ($lb×)" grep -q "| (d) memgov, warm (estimates learned) | 24/24 | 40.0 | $lb× | 2.50× | 0 |" "$R"
check "report: no ratio for a strategy that lost jobs" grep -q "| 22/24 | 20.0 | n/a: 2 jobs lost | n/a: 2 jobs lost | 2 (ramp ×2) |" "$R"
check "report: the goals are checked" grep -q "met: ≥ 2× faster than serial (2.50×)" "$R"
check "report: missing strategies are named, not invented" grep -q "not measured (no tp-parallel/summary.txt)" "$R"
check "report: missing sections are named" grep -q "Not measured in this run" "$R"
check "report: the headline table" grep -q "^| strategy | done | makespan" "$t/rep/headline.md"
finish
