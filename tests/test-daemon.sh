#!/bin/bash
# SPDX-License-Identifier: MIT
# memgov daemon with the client verbs over its control socket: one instance per state folder,
# submit (one and a manifest), list, show, status, cancel, retry, release, SIGHUP reload (a bad
# policy is refused and the old one kept), SIGTERM drain.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/batch-lib.sh"
batch_setup daemon 3
P="-p $t/policy.ini"
printf '[daemon]\nmetrics_file = %s/metrics.prom\n' "$t" >>"$t/policy.ini"

"$MEMGOV" daemon $P >"$t/daemon.log" 2>&1 &
run=$!
for i in $(seq 100); do [ -S "$t/control.sock" ] && break; sleep 0.1; done
check "the daemon listens on its socket" [ -S "$t/control.sock" ]
"$MEMGOV" daemon $P >/dev/null 2>"$t/second.err"
rc=$?
check "a second daemon on the same state folder is refused with the holder's pid" bash -c "[ $rc -eq 3 ] && grep -q 'in use by memgov pid $run' '$t/second.err'"

"$MEMGOV" submit $P --manifest "$t/manifest.jsonl" >"$t/out" 2>&1
check "submit --manifest" grep -q '3 submitted' "$t/out"
"$MEMGOV" submit $P bad1 "ftp://127.0.0.1/x" >/dev/null 2>"$t/err"
rc=$?
check "a URL with a forbidden scheme is refused" bash -c "[ $rc -eq 1 ] && grep -q 'ftp' '$t/err'"
for i in $(seq 150); do
        [ "$("$MEMGOV" list $P --state done --json 2>/dev/null | grep -o '"id"' | wc -l)" -eq 3 ] && break
        sleep 0.2
done
check "the three episodes are done" bash -c "[ \$('$MEMGOV' list $P --state done --json | grep -o '\"id\"' | wc -l) -eq 3 ]"
check "their transcripts exist" bash -c "ls '$t'/state/out/ep0{0,1,2}.txt >/dev/null"
"$MEMGOV" show $P ep01 >"$t/show" 2>&1
check "show lists the runs" bash -c "grep -q 'fetch .*ok' '$t/show' && grep -q 'transcribe .*ok' '$t/show'"
"$MEMGOV" status $P --json >"$t/status" 2>&1
check "status --json reports the mode and the tokens" python3 -c "import json; d=json.load(open('$t/status')); assert d['ok'] and d['mode'] in ('cgroup','watchdog') and 'transcribe' in d['tokens']"

for i in $(seq 50); do grep -q '^memgov_episodes{state="done"} 3' "$t/metrics.prom" 2>/dev/null && break; sleep 0.1; done
check "the metrics file is written in Prometheus text format" bash -c "grep -q '^# TYPE memgov_budget_bytes gauge' '$t/metrics.prom' && grep -q '^memgov_episodes{state=\"done\"} 3' '$t/metrics.prom'"

# cancel a running stage, then retry and cancel again
"$MEMGOV" submit $P slow "http://127.0.0.1:$port/slow00.wav" >/dev/null
for i in $(seq 100); do "$MEMGOV" list $P --state transcribing --json 2>/dev/null | grep -q '"slow"' && break; sleep 0.1; done
"$MEMGOV" cancel $P slow >"$t/out" 2>&1
check "cancel stops a running stage" grep -q 'cancelled' "$t/out"
for i in $(seq 50); do "$MEMGOV" show $P slow 2>/dev/null | grep -q 'transcribe .*cancelled' && break; sleep 0.1; done
check "the stage's run is recorded as cancelled" bash -c "'$MEMGOV' show $P slow | grep -q 'transcribe .*cancelled'"
"$MEMGOV" retry $P slow >"$t/out" 2>&1
check "retry requeues a cancelled episode" grep -q 'queued' "$t/out"
"$MEMGOV" cancel $P slow >/dev/null 2>&1
"$MEMGOV" retry $P ep00 >/dev/null 2>"$t/err"
rc=$?
check "retry of a done episode needs --force" bash -c "[ $rc -eq 1 ]"
"$MEMGOV" release $P nosuch >/dev/null 2>"$t/err"
rc=$?
check "an unknown id is an error naming it" bash -c "[ $rc -eq 1 ] && grep -q nosuch '$t/err'"

# SIGHUP: a broken policy is refused, the daemon keeps serving; a good one is applied.
cp "$t/policy.ini" "$t/policy.good"
echo "[memory]" >>"$t/policy.ini"; echo "jobmax = 1G" >>"$t/policy.ini"
kill -HUP "$run"
sleep 0.5
check "an invalid policy on reload is refused and logged" grep -q "reload: .* is invalid; keeping the policy in force" "$t/daemon.log"
check "the daemon still answers after a refused reload" bash -c "'$MEMGOV' status --socket '$t/control.sock' >/dev/null"
cp "$t/policy.good" "$t/policy.ini"
kill -HUP "$run"
sleep 0.5
check "a valid policy on reload is applied" grep -q "reload: .* applied" "$t/daemon.log"


kill -TERM "$run"
for i in $(seq 100); do kill -0 "$run" 2>/dev/null || break; sleep 0.1; done
wait "$run"
rc=$?
run=
check "SIGTERM drains and exits 0" bash -c "[ $rc -eq 0 ] && grep -q 'daemon: stopped' '$t/daemon.log'"
"$MEMGOV" status $P >/dev/null 2>"$t/err"
rc=$?
check "status without a daemon exits 3 and says so" bash -c "[ $rc -eq 3 ] && grep -qi 'no memgov daemon' '$t/err'"

# Largest-first admission keeps room for a waiting stage. A second daemon on a fresh state folder,
# where the policy's seed (600M per transcription) is all memgov knows: only one transcription
# fits the 1G budget, and status names the one that waits.
mkdir -p "$t/room"
sed "s|$t/state|$t/room/state|; s|$t/control.sock|$t/room/control.sock|; s|$t/metrics.prom|$t/room/metrics.prom|
        s/^estimate = 128M/estimate = 600M/; s/^job_max = 256M/job_max = 800M/" "$t/policy.good" >"$t/room/policy.ini"
R="-p $t/room/policy.ini"
"$MEMGOV" daemon $R >"$t/room/daemon.log" 2>&1 &
run=$!
for i in $(seq 100); do [ -S "$t/room/control.sock" ] && break; sleep 0.1; done
"$MEMGOV" submit $R slowa "http://127.0.0.1:$port/slow01.wav" >/dev/null
"$MEMGOV" submit $R slowb "http://127.0.0.1:$port/slow02.wav" >/dev/null
for i in $(seq 100); do
        "$MEMGOV" status $R --json >"$t/status" 2>/dev/null
        python3 -c "import json, sys; d = json.load(open('$t/status')); sys.exit(not (d['tokens']['transcribe']['room_kept_for'] or {}).get('id'))" 2>/dev/null && break
        sleep 0.1
done
check "status names the stage room is kept for" python3 -c "
import json; d = json.load(open('$t/status'))
running = [r['id'] for r in d['running'] if r['stage'] == 'transcribe']
kept = d['tokens']['transcribe']['room_kept_for']
assert len(running) == 1 and kept and {kept['id'], running[0]} == {'slowa', 'slowb'} and kept['bytes'] == 600 << 20, (running, kept)"
"$MEMGOV" status $R >"$t/status.txt" 2>&1
check "status text says room is kept" grep -Eq 'room kept for slow[ab] \(600(\.0)? ?MiB\)' "$t/status.txt"
# Cancelled, the slow stage does not hold up the drain for its 60 s.
"$MEMGOV" cancel $R slowa >/dev/null 2>&1
"$MEMGOV" cancel $R slowb >/dev/null 2>&1
kill -TERM "$run"
wait "$run"
run=
finish
