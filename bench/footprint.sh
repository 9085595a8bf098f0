#!/bin/bash
# SPDX-License-Identifier: MIT
# memgov's own footprint, on the host (watchdog mode; no cgroup is touched):
#  - the daemon's RSS (and PSS) idle and with 10 000 queued episodes, how long the 10 000 submits
#    took and how big the ledger grew;
#  - the idle daemon's wakeups per second (context switches from /proc) and CPU time, and the
#    same with the 10 000 queued;
#  - the peak RSS of the fetch and upload stages for 10 MB and 1 GB, from bench/fetch-bench.sh
#    (curl in the same run as the baseline) and bench/upload-bench.sh.
#
#   MEMGOV=build/memgov bench/footprint.sh OUTDIR
#
# Writes OUTDIR/footprint.md (a "## Footprint" section) and OUTDIR/footprint.txt (key=value),
# progress on stderr. Needs root (the daemon's stage user is nobody), python3, curl,
# /usr/bin/time and fincore; MEMGOV must be built without --enable-sanitizers (ASan's shadow
# memory would be most of the RSS). Temporary files go to BENCH_DIR (default /var/tmp, a disk
# file system, so the ledger's fsyncs cost what they cost in service). Takes about 1.5 minutes.
set -u
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
MEMGOV=${MEMGOV:-$top_srcdir/build/memgov}
SMALL=10000000
LARGE=1000000000
# Smaller values are for trying the script out, not for figures.
EPISODES=${FOOTPRINT_EPISODES:-10000}
BATCH=$((EPISODES >= 10 ? EPISODES / 10 : 1))
WINDOW=${FOOTPRINT_WINDOW:-20}

say() { echo "footprint: $*" >&2; }
die() {
        echo "footprint: cannot measure: $*" >&2
        exit 1
}

[ $# -eq 1 ] || {
        echo "usage: MEMGOV=build/memgov $0 OUTDIR" >&2
        exit 2
}
outdir=$1
for tool in python3 curl /usr/bin/time fincore setsid awk; do
        command -v "$tool" >/dev/null || die "$tool is needed (apt-get install python3 curl time util-linux)"
done
[ "$(id -u)" -eq 0 ] || die "needs root: the daemon drops its stages to the user nobody"
getent passwd nobody >/dev/null || die "the user nobody does not exist (the policy's stage user)"
[ -x "$MEMGOV" ] || die "MEMGOV=$MEMGOV is not an executable memgov (build one without --enable-sanitizers)"
MEMGOV=$(cd "$(dirname "$MEMGOV")" && pwd)/$(basename "$MEMGOV")
! grep -qa __asan_init "$MEMGOV" || die "$MEMGOV is built with sanitizers; its RSS would be mostly shadow memory"
mkdir -p "$outdir" || die "cannot create $outdir"

t=$(mktemp -d "${BENCH_DIR:-/var/tmp}/memgov-footprint.XXXXXX") || die "cannot create a temporary folder"
dpid=
bench_pid=
nap_pid=
cleanup() {
        # A bench runs in its own session: its servers and the tool it measures go with it.
        [ -n "$bench_pid" ] && kill -TERM -- "-$bench_pid" 2>/dev/null
        [ -n "$nap_pid" ] && kill "$nap_pid" 2>/dev/null
        if [ -n "$dpid" ]; then
                kill -TERM "$dpid" 2>/dev/null
                for _ in $(seq 50); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$dpid" 2>/dev/null
        fi
        wait 2>/dev/null
        rm -rf "$t"
}
trap cleanup EXIT
# Without these, a signal that arrives while the script waits could end it without the EXIT trap.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# nap SECONDS: a sleep that the EXIT trap can end.
nap() {
        sleep "$1" &
        nap_pid=$!
        wait "$nap_pid"
        nap_pid=
}
now_s() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
alive() { kill -0 "$dpid" 2>/dev/null || die "the daemon exited: $(tail -n 1 "$t/daemon.log")"; }
status_kib() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$dpid/status"; }
pss_kib() { awk '$1 == "Pss:" { print $2 }' "/proc/$dpid/smaps_rollup" 2>/dev/null; }
ctxsw() {
        cat /proc/"$dpid"/task/*/status |
                awk '$1 == "voluntary_ctxt_switches:" { v += $2 } $1 == "nonvoluntary_ctxt_switches:" { n += $2 }
                     END { print v + 0, n + 0 }'
}
oncpu_ns() { cat /proc/"$dpid"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
# window SECONDS: the daemon's voluntary and involuntary context switches, wall time and CPU
# nanoseconds over SECONDS, in w_vol w_inv w_s w_cpu.
window() {
        local v0 n0 c0 s0 v1 n1 c1 s1
        alive
        read -r v0 n0 < <(ctxsw)
        c0=$(oncpu_ns)
        s0=$(now_s)
        nap "$1"
        alive
        read -r v1 n1 < <(ctxsw)
        c1=$(oncpu_ns)
        s1=$(now_s)
        if [ -z "$v0" ] || [ -z "$v1" ] || [ -z "$c0" ] || [ -z "$c1" ]; then
                die "cannot read /proc/$dpid/task/*/{status,schedstat}"
        fi
        w_vol=$((v1 - v0))
        w_inv=$((n1 - n0))
        w_s=$(calc %.3f "$s1 - $s0")
        w_cpu=$((c1 - c0))
}
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }
mib_of_kib() { calc %.1f "$1 / 1024"; }
mib_of_bytes() { calc %.2f "$1 / 1048576"; }
# kib_cell KIB: "X MiB (KIB KiB)", or n/a when the figure could not be read.
kib_cell() { if [ -n "$1" ]; then echo "$(mib_of_kib "$1") MiB ($1 KiB)"; else echo n/a; fi; }
# mib_cell MIB: "X MiB", or - when there is no such row.
mib_cell() { if [ -n "$1" ]; then echo "$1 MiB"; else echo -; fi; }
human() { awk -v b="$1" 'BEGIN { if (b >= 1e9) printf "%g GB", b / 1e9; else printf "%g MB", b / 1e6 }'; }

# ---- the daemon -------------------------------------------------------------------------------
# Admission stays shut for an hour ([pressure] startup_delay): the 10 000 episodes stay queued,
# no stage ever starts, nothing is fetched, and the figures are the daemon's alone. The daemon
# still runs its admission pass on every wakeup, as it does when the classes are full.
# Watchdog mode so that nothing is created in the host's cgroup tree; the budget only has to fit
# the default job_max (1G) plus headroom.
mkdir -p "$t/state"
cat >"$t/policy.ini" <<EOF
[memory]
enforcement = watchdog
budget = 2G
[pressure]
startup_delay = 1h
[sandbox]
user = nobody
[paths]
state_dir = $t/state
socket = $t/control.sock
EOF
say "starting $MEMGOV daemon (state in $t)"
"$MEMGOV" daemon -p "$t/policy.ini" >"$t/daemon.log" 2>&1 &
dpid=$!
for _ in $(seq 100); do [ -S "$t/control.sock" ] && break; alive; sleep 0.1; done
[ -S "$t/control.sock" ] || die "the daemon did not open its socket in 10 s: $(tail -n 1 "$t/daemon.log")"
"$MEMGOV" status -p "$t/policy.ini" --json >"$t/status0.json" 2>&1 || die "status failed: $(tail -n 1 "$t/status0.json")"
mode=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["mode"])' "$t/status0.json")

say "idle: settling for 5 s"
nap 5
alive
rss_idle=$(status_kib VmRSS)
pss_idle=$(pss_kib)
[ -n "$rss_idle" ] || die "no VmRSS in /proc/$dpid/status"
say "idle: RSS $rss_idle KiB, PSS ${pss_idle:-n/a} KiB; counting wakeups for $WINDOW s"
window "$WINDOW"
vol_idle=$w_vol inv_idle=$w_inv el_idle=$w_s cpu_idle=$w_cpu
say "idle: $vol_idle voluntary + $inv_idle involuntary context switches in $el_idle s"

# Ids and URLs of a realistic length; the URLs point at the discard port and are never fetched.
for b in $(seq 0 $((EPISODES / BATCH - 1))); do
        awk -v b="$b" -v n="$BATCH" 'BEGIN { for (i = b * n; i < (b + 1) * n; i++)
                printf "{\"id\":\"show-%06d\",\"url\":\"http://127.0.0.1:9/feeds/some-podcast/episodes/%06d.mp3\",\"title\":\"Episode %d\"}\n", i, i, i }' \
                >"$t/manifest-$b.jsonl"
done
say "submitting $EPISODES episodes in batches of $BATCH"
batch_s=()
batch_cpu=()
cpu_sub0=$(oncpu_ns)
s_all=$(now_s)
for b in $(seq 0 $((EPISODES / BATCH - 1))); do
        s0=$(now_s)
        c0=$(oncpu_ns)
        "$MEMGOV" submit -p "$t/policy.ini" --manifest "$t/manifest-$b.jsonl" >"$t/submit.out" 2>&1 ||
                die "submit of batch $b failed: $(tail -n 1 "$t/submit.out")"
        s1=$(now_s)
        batch_cpu+=($(($(oncpu_ns) - c0)))
        grep -q "^$BATCH submitted, 0 already known, 0 bad lines" "$t/submit.out" ||
                die "batch $b: $(tail -n 1 "$t/submit.out")"
        batch_s+=("$(calc %.3f "$s1 - $s0")")
        say "  batch $((b + 1))/$((EPISODES / BATCH)): ${batch_s[-1]} s, daemon CPU $(calc %.0f "${batch_cpu[-1]} / 1e6") ms"
done
submit_s=$(calc %.3f "$(now_s) - $s_all")
cpu_sub=$(($(oncpu_ns) - cpu_sub0))
"$MEMGOV" status -p "$t/policy.ini" --json >"$t/status1.json" 2>&1 || die "status failed: $(tail -n 1 "$t/status1.json")"
read -r queued running < <(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["counts"]["queued"], len(d["running"]))' "$t/status1.json")
if [ "$queued" != "$EPISODES" ] || [ "$running" != 0 ]; then
        die "expected $EPISODES queued and nothing running, the daemon says $queued queued, $running running"
fi

say "$EPISODES queued: settling for 5 s"
nap 5
alive
rss_10k=$(status_kib VmRSS)
pss_10k=$(pss_kib)
hwm=$(status_kib VmHWM)
db=$(fsize "$t/state/ledger.sqlite")
wal=$(fsize "$t/state/ledger.sqlite-wal")
shm=$(fsize "$t/state/ledger.sqlite-shm")
say "$EPISODES queued: RSS $rss_10k KiB, PSS ${pss_10k:-n/a} KiB; counting wakeups for $WINDOW s"
window "$WINDOW"
vol_10k=$w_vol inv_10k=$w_inv el_10k=$w_s cpu_10k=$w_cpu
say "$EPISODES queued: $vol_10k voluntary + $inv_10k involuntary context switches in $el_10k s"

kill -TERM "$dpid"
for _ in $(seq 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
wait "$dpid" 2>/dev/null
drc=$?
dpid=
[ "$drc" -eq 0 ] || say "warning: the daemon exited with status $drc on SIGTERM"
# The last connection's close checkpoints the WAL into the database and removes it.
db_closed=$(fsize "$t/state/ledger.sqlite")
wal_closed=$(fsize "$t/state/ledger.sqlite-wal")

# ---- the stages, through the existing benches -------------------------------------------------
# run_bench SCRIPT OUT SIZE...: runs bench/SCRIPT in its own session, echoing its rows as they
# come; its wall time in seconds goes to bench_secs.
run_bench() {
        local script=$1 out=$2 start shown=0 warned='' n rc
        shift 2
        say "running bench/$script $* (the $(human "$LARGE") rows take a while)"
        start=$(date +%s)
        env MEMGOV="$MEMGOV" top_srcdir="$top_srcdir" BENCH_DIR="$t" setsid "$top_srcdir/bench/$script" "$@" \
                >"$out" 2>"$out.err" &
        bench_pid=$!
        while kill -0 "$bench_pid" 2>/dev/null; do
                nap 1
                n=$(wc -l <"$out")
                [ "$n" -gt "$shown" ] && sed -n "$((shown + 1)),${n}p" "$out" | sed "s|^|footprint:   |" >&2
                shown=$n
                if [ -z "$warned" ] && [ $(($(date +%s) - start)) -gt 180 ]; then
                        say "bench/$script has run for more than 3 minutes; letting it finish"
                        warned=1
                fi
        done
        wait "$bench_pid"
        rc=$?
        bench_pid=
        n=$(wc -l <"$out")
        [ "$n" -gt "$shown" ] && sed -n "$((shown + 1)),${n}p" "$out" | sed "s|^|footprint:   |" >&2
        [ "$rc" -eq 0 ] || die "bench/$script exited with $rc: $(tail -n 1 "$out.err")"
        ! grep -q 'failed' "$out.err" || die "bench/$script: $(grep -m1 -A1 'failed' "$out.err" | tr '\n' ' ')"
        bench_secs=$(($(date +%s) - start))
}
run_bench fetch-bench.sh "$t/fetch.out" "$SMALL" "$LARGE"
fetch_secs=$bench_secs
run_bench upload-bench.sh "$t/upload.out" "$SMALL" "$LARGE"
upload_secs=$bench_secs

# fetch-bench rows: SIZE TOOL... RSS MiB SECONDS MB/S CACHE MiB (TOOL has spaces).
declare -A F FT U
while read -r size key rss secs; do
        F[$size.$key]=$rss
        FT[$size.$key]=$secs
done < <(awk '$1 ~ /^[0-9]+$/ { for (i = 3; i <= NF && $i != "MiB"; i++); if (i > NF) next
        tool = $2; for (j = 3; j < i - 1; j++) tool = tool " " $j
        key = tool == "memgov fetch" ? "memgov" : tool == "memgov --keep-cache" ? "keep" : tool == "curl -o" ? "curl" : ""
        if (key != "") print $1, key, $(i - 1), $(i + 1) }' "$t/fetch.out")
# upload-bench rows: BACKEND SIZE CHUNKS RSS MiB SECONDS MB/S.
while read -r backend size rss; do
        U[$backend.$size]=$rss
done < <(awk '($1 == "gemini" || $1 == "openai") && $5 == "MiB" { print $1, $2, $4 }' "$t/upload.out")
for k in "$SMALL.memgov" "$LARGE.memgov" "$SMALL.keep" "$LARGE.keep" "$SMALL.curl" "$LARGE.curl"; do
        [ -n "${F[$k]:-}" ] || die "bench/fetch-bench.sh printed no row for $k (see its output format)"
done
for k in "gemini.$SMALL" "gemini.$LARGE"; do
        [ -n "${U[$k]:-}" ] || die "bench/upload-bench.sh printed no row for $k (see its output format)"
done
openai_large=$(awk '$1 == "openai" && $5 == "MiB" { s = $2 } END { print s }' "$t/upload.out")

# ---- the report --------------------------------------------------------------------------------
kib_of_mib() { calc %.0f "$1 * 1024"; }
ratio() { calc %.2f "($2 > 0 ? $1 / $2 : 0)"; }
wps_idle=$(calc %.2f "($vol_idle + $inv_idle) / $el_idle")
wps_10k=$(calc %.2f "($vol_10k + $inv_10k) / $el_10k")
cpums_idle=$(calc %.3f "$cpu_idle / 1e6 / $el_idle")
cpums_10k=$(calc %.3f "$cpu_10k / 1e6 / $el_10k")
per_wake_idle=$(calc %.3f "($vol_idle + $inv_idle > 0 ? $cpu_idle / 1e6 / ($vol_idle + $inv_idle) : 0)")
per_wake_10k=$(calc %.3f "($vol_10k + $inv_10k > 0 ? $cpu_10k / 1e6 / ($vol_10k + $inv_10k) : 0)")
first_b=${batch_s[0]}
last_b=${batch_s[-1]}
first_cpu=$(calc %.3f "${batch_cpu[0]} / 1e6 / $BATCH")
last_cpu=$(calc %.3f "${batch_cpu[-1]} / 1e6 / $BATCH")
fetch_10m=$(kib_of_mib "${F[$SMALL.memgov]}")
fetch_1g=$(kib_of_mib "${F[$LARGE.memgov]}")
upload_10m=$(kib_of_mib "${U[gemini.$SMALL]}")
upload_1g=$(kib_of_mib "${U[gemini.$LARGE]}")
fstype=$(df --output=fstype "$t" 2>/dev/null | tail -n 1)
ledger_closed_bytes=$((db_closed + wal_closed))
daemon_cpu_ms_per_submit=$(calc %.3f "$cpu_sub / 1e6 / $EPISODES")
rev=$(git -C "$top_srcdir" describe --always --dirty 2>/dev/null || echo unknown)

cat >"$outdir/footprint.txt" <<EOF
daemon_rss_idle_kib=$rss_idle
daemon_rss_10k_kib=$rss_10k
daemon_pss_idle_kib=${pss_idle:-}
daemon_pss_10k_kib=${pss_10k:-}
daemon_hwm_kib=$hwm
submit_10k_seconds=$submit_s
submit_last_vs_first_batch=$(ratio "$last_b" "$first_b")
submit_cpu_last_vs_first_batch=$(ratio "$last_cpu" "$first_cpu")
ledger_bytes=$((db + wal + shm))
ledger_closed_bytes=$ledger_closed_bytes
daemon_cpu_ms_per_submit=$daemon_cpu_ms_per_submit
wakeups_per_s_idle=$wps_idle
wakeups_per_s_10k=$wps_10k
cpu_ms_per_s_idle=$cpums_idle
cpu_ms_per_s_10k=$cpums_10k
fetch_rss_10m_kib=$fetch_10m
fetch_rss_1g_kib=$fetch_1g
curl_rss_10m_kib=$(kib_of_mib "${F[$SMALL.curl]}")
curl_rss_1g_kib=$(kib_of_mib "${F[$LARGE.curl]}")
upload_rss_10m_kib=$upload_10m
upload_rss_1g_kib=$upload_1g
EOF

{
        echo "## Footprint"
        echo
        echo "Measured by \`bench/footprint.sh\` on $(date -u +%Y-%m-%d) ($rev, kernel $(uname -r), $(nproc) cores, shared"
        echo "and noisy: compare the ratios, not the absolute times). Daemon in $mode mode, state folder on $fstype."
        echo
        echo "### The daemon"
        echo
        echo "| figure | value | what it is, how it was measured |"
        echo "|---|---|---|"
        echo "| RSS idle | $(kib_cell "$rss_idle") | VmRSS (/proc/PID/status) 5 s after the control socket appeared, empty ledger |"
        echo "| PSS idle | $(kib_cell "$pss_idle") | Pss (/proc/PID/smaps_rollup): shared pages (libc, libcurl, SQLite) divided among the processes mapping them |"
        echo "| RSS, $EPISODES queued | $(kib_cell "$rss_10k") | VmRSS 5 s after the last of $EPISODES submits; admission held shut by \`[pressure] startup_delay = 1h\`, so all stay queued and no stage runs (checked with \`status --json\`) |"
        echo "| PSS, $EPISODES queued | $(kib_cell "$pss_10k") | Pss at the same moment |"
        echo "| growth | $((rss_10k - rss_idle)) KiB | RSS queued - RSS idle: mostly SQLite's page cache, which its default cache_size caps near 2 MiB per connection (the ledger file is smaller here), so it does not grow on with the queue |"
        echo "| peak RSS | $(kib_cell "$hwm") | VmHWM at the end of the daemon part, submits included |"
        echo "| $EPISODES submits | $submit_s s ($(calc %.2f "$submit_s * 1000 / $EPISODES") ms each) | wall time of \`memgov submit --manifest\` in $((EPISODES / BATCH)) batches of $BATCH (one connection per batch, one request and one ledger transaction per episode) |"
        echo "| daemon CPU per submit | $daemon_cpu_ms_per_submit ms | the daemon's time on CPU (/proc/PID/task/*/schedstat) over the submits, divided by $EPISODES |"
        echo "| last / first batch, wall | $(ratio "$last_b" "$first_b") ($last_b s / $first_b s) | the last batch (submits with $((EPISODES - BATCH)) already queued) against the first (an empty queue): 1.00 if a submit's cost does not depend on the queue length; the wall time includes the WAL's fsyncs, the noisiest part |"
        echo "| last / first batch, daemon CPU | $(ratio "$last_cpu" "$first_cpu") ($last_cpu ms / $first_cpu ms per submit) | the same with the daemon's CPU time per submit |"
        echo "| ledger | $(mib_of_bytes $((db + wal + shm))) MiB | ledger.sqlite $db B + ledger.sqlite-wal $wal B + ledger.sqlite-shm $shm B right after the submits (the WAL is checkpointed at SQLite's default of 1000 pages, so it stays near 4 MiB) |"
        echo "| ledger, daemon stopped | $(mib_of_bytes "$ledger_closed_bytes") MiB | ledger.sqlite (+ any WAL left) after SIGTERM, once the WAL was checkpointed into it: $(calc %.0f "$ledger_closed_bytes / $EPISODES") B per queued episode |"
        echo
        echo "| daemon | wakeups/s | voluntary | involuntary | CPU ms/s | CPU ms per wakeup |"
        echo "|---|---|---|---|---|---|"
        echo "| idle, empty ledger | $wps_idle | $vol_idle | $inv_idle | $cpums_idle | $per_wake_idle |"
        echo "| idle, $EPISODES queued | $wps_10k | $vol_10k | $inv_10k | $cpums_10k | $per_wake_10k |"
        echo
        echo "- wakeups/s: voluntary + involuntary context switches summed over /proc/PID/task/*/status across a"
        echo "  ${WINDOW} s window (columns 3 and 4 are the window's counts), divided by the window's wall time."
        echo "  The voluntary ones are the wakeups proper (a blocking poll that returns); involuntary ones are"
        echo "  preemptions while the daemon runs, which show up once a wakeup's work is long enough to be"
        echo "  preempted on this busy 2-core machine."
        echo "- CPU ms/s: time on CPU from /proc/PID/task/*/schedstat over the same window; per wakeup: that"
        echo "  time divided by the context switches. $EPISODES queued / idle: $(ratio "$cpums_10k" "$cpums_idle")x the CPU,"
        echo "  $(ratio "$wps_10k" "$wps_idle")x the wakeups."
        echo "- Expected from the code: 1 wakeup/s. The main loop (cli/daemon.c) sleeps in poll() until an fd"
        echo "  is ready; the scheduler's timerfd ticks every \`[pressure] sample_interval\` (1 s), and the"
        echo "  once-a-second duties (sd_notify STATUS and WATCHDOG, the metrics file) run on that wakeup (the"
        echo "  poll timeout, at 1.5 s, is only a fallback). The supervisor's 100 ms watchdog timer is armed"
        echo "  only while stages run, the control socket's sweep timer only while clients are connected."
        echo "  Each tick runs an admission pass, even while admission is shut: it reads at most 64 runnable"
        echo "  episodes through the partial index \`episodes_runnable\` (ledger schema 3), so its cost stops"
        echo "  growing with the queue once 64 are queued; the STATUS line counts episodes per state, which"
        echo "  still reads the whole queue (through an index) once a second."
        echo
        echo "### The stages: peak RSS for 10 MB and 1 GB"
        echo
        echo "Fetch (\`bench/fetch-bench.sh $SMALL $LARGE\`, $fetch_secs s): a body generated by"
        echo "tests/http-server.py on 127.0.0.1, written to BENCH_DIR; curl in the same run is the baseline."
        echo
        echo "| body | memgov fetch | memgov fetch --keep-cache | curl -o (baseline) | memgov fetch / curl | time, memgov fetch / curl |"
        echo "|---|---|---|---|---|---|"
        for s in "$SMALL" "$LARGE"; do
                echo "| $(human "$s") | ${F[$s.memgov]} MiB | ${F[$s.keep]} MiB | ${F[$s.curl]} MiB | $(ratio "${F[$s.memgov]}" "${F[$s.curl]}") | $(ratio "${FT[$s.memgov]}" "${FT[$s.curl]}") |"
        done
        echo "| $(human "$LARGE") / $(human "$SMALL") | $(ratio "${F[$LARGE.memgov]}" "${F[$SMALL.memgov]}") | $(ratio "${F[$LARGE.keep]}" "${F[$SMALL.keep]}") | $(ratio "${F[$LARGE.curl]}" "${F[$SMALL.curl]}") | | |"
        echo
        echo "Upload (\`bench/upload-bench.sh $SMALL $LARGE\`, $upload_secs s): \`memgov transcribe\` sending a sparse"
        echo "WAV episode to tests/mock-gemini.py (resumable upload, 8 MiB pieces read from disk) and to"
        echo "tests/mock-openai.py (multipart); upload-bench stops the OpenAI rows at 100 MB, because that"
        echo "mock keeps each body in memory."
        echo
        echo "| episode | gemini | openai |"
        echo "|---|---|---|"
        for s in "$SMALL" "$openai_large" "$LARGE"; do
                [ -n "$s" ] || continue
                [ -n "${U[gemini.$s]:-}${U[openai.$s]:-}" ] || continue
                echo "| $(human "$s") | $(mib_cell "${U[gemini.$s]:-}") | $(mib_cell "${U[openai.$s]:-}") |"
        done | awk '!seen[$0]++'
        echo "| largest / $(human "$SMALL") | $(ratio "${U[gemini.$LARGE]}" "${U[gemini.$SMALL]}") | $(ratio "${U[openai.$openai_large]:-0}" "${U[openai.$SMALL]:-1}") |"
        echo
        echo "- Peak RSS is getrusage's maximum resident set of the process (\`/usr/bin/time -f %M\`), printed by"
        echo "  the two benches in MiB with one decimal: the KiB figures in footprint.txt are within ±51 KiB."
        echo "- $(human "$LARGE") / $(human "$SMALL") near 1.00 means the stage streams: its memory does not depend on the file's size."
} >"$outdir/footprint.md"

say "wrote $outdir/footprint.md and $outdir/footprint.txt"
