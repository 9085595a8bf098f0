#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 768
# vm-timeout: 400
#
# The crash test in cgroup mode (issue 6): 30 episodes downloaded from a loopback HTTP server
# (busybox httpd) and transcribed by a stand-in command, while 'memgov run' is SIGKILLed at
# random moments 50 times and restarted. Stages of a killed run live on in their cgroups until
# the next run kills and removes them. At the end every episode is done, each with exactly one
# successful transcribe run in the ledger, none lost, no stage cgroup and no temporary file left.
. /vm/lib.sh

[ -n "$MEMGOV" ] || skip "no memgov binary in the initramfs (build it first)"
command -v sqlite3 >/dev/null || skip "no sqlite3 in the initramfs (apt-get install sqlite3 on the host)"
KILLS=50
EPISODES=30
T=/tmp/crash
mkdir -p $T/www && chmod 755 /tmp $T

# A valid WAV: 0.25 s of silence, 8 kHz mono 16-bit (4000 data bytes).
wav() {
        printf 'RIFF\304\017\000\000WAVEfmt \020\000\000\000\001\000\001\000\100\037\000\000\200\076\000\000\002\000\020\000data\240\017\000\000'
        head -c 4000 /dev/zero
}
i=0
while [ $i -lt $EPISODES ]; do
        n=$(printf '%02d' $i)
        wav >$T/www/ep$n.wav
        printf '{"id":"ep%s","url":"http://127.0.0.1:8080/ep%s.wav"}\n' "$n" "$n" >>$T/manifest.jsonl
        i=$((i + 1))
done
# Like the daemon, everything of the scenario lives in supervisor/; jobs/ is memgov's.
delegate
busybox httpd -p 127.0.0.1:8080 -h $T/www || fail "busybox httpd did not start"
printf '#!/bin/sh\nsleep 0.3\necho "transcript of $(basename "$1")"\n' >$T/transcriber.sh
chmod 755 $T/transcriber.sh
cat >$T/policy.ini <<EOF2
[memory]
budget = 512M
headroom = 32M
job_min = 32M
job_max = 256M
[class.transcribe]
estimate = 64M
[class.download]
max_concurrent = 2
[pressure]
sample_interval = 100ms
[command]
argv = /bin/sh $T/transcriber.sh {audio}
prepare =
[sandbox]
user = nobody
[paths]
state_dir = $T/state
socket = $T/control.sock
[retry]
backoff_min = 100ms
backoff_max = 500ms
max_interruptions = 100
EOF2
"$MEMGOV" check -q $T/policy.ini >/dev/null || fail "invalid scenario policy: $("$MEMGOV" check $T/policy.ini 2>&1 | head -n 3)"

k=0
kills=0
while [ $k -lt $KILLS ]; do
        "$MEMGOV" run -q -p $T/policy.ini $T/manifest.jsonl >>$T/run.log 2>&1 &
        pid=$!
        # 0.2-1.7 s into the run: under emulation memgov's own start-up (self-test, ledger
        # recovery) takes a few hundred ms, and the kills must land in stages too.
        ms=$((200 + $(head -c 2 /dev/urandom | od -An -tu2 | tr -d ' ') % 1500))
        sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
        kill -9 $pid 2>/dev/null && kills=$((kills + 1))
        wait $pid 2>/dev/null
        k=$((k + 1))
done
"$MEMGOV" run -q -p $T/policy.ini $T/manifest.jsonl >$T/final.log 2>&1 || fail "the final run failed: $(tail -n 5 $T/final.log | tr '\n' ' ')"

q() { sqlite3 "file:$T/state/ledger.sqlite?mode=ro" "$1"; }
episodes=$(q "select count(*) from episodes")
done_n=$(q "select count(*) from episodes where state='done'")
dups=$(q "select count(*) from (select episode_id from stage_runs where stage='transcribe' and result='ok' group by episode_id having count(*) > 1)")
interrupted=$(q "select count(*) from stage_runs where result='interrupted'")
runs=$(q "select count(*) from stage_runs")
temp=$(ls -a $T/state/out $T/state/spool | grep -c -e '^\.#' -e '\.part$' -e '\.work$')
outs=$(ls $T/state/out/*.txt 2>/dev/null | wc -l)
left=$(ls -d "$SVC"/jobs/*/ 2>/dev/null | wc -l)
diag "$kills SIGKILLs, $EPISODES episodes, $runs stage runs, $interrupted interrupted and requeued; lost $((EPISODES - episodes)), duplicates $dups, temp files $temp, stage cgroups left $left"
[ "$episodes" -eq $EPISODES ] || fail "episodes lost: $episodes of $EPISODES in the ledger"
[ "$done_n" -eq $EPISODES ] || fail "only $done_n of $EPISODES done"
[ "$dups" -eq 0 ] || fail "$dups episodes were transcribed successfully twice"
[ "$outs" -eq $EPISODES ] || fail "$outs transcripts in the output folder, want $EPISODES"
[ "$temp" -eq 0 ] || fail "temporary files left: $(ls -a $T/state/out $T/state/spool | grep -e '^\.#' -e '\.part$' -e '\.work$' | tr '\n' ' ')"
[ "$left" -eq 0 ] || fail "stage cgroups left under jobs/: $(ls "$SVC/jobs" | tr '\n' ' ')"
[ "$interrupted" -gt 0 ] || fail "no stage was interrupted: the kills missed"
exit 0
