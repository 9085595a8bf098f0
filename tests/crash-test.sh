#!/bin/bash
# SPDX-License-Identifier: MIT
# The crash test (issue 6): a batch of real episodes (downloads from a loopback HTTP server, a
# command transcriber) while memgov is SIGKILLed at random moments and restarted each time. At
# the end: every episode done, each transcript produced by exactly one successful transcribe
# run in the ledger, no episode lost, no temporary file left.
#   tests/crash-test.sh [KILLS] [EPISODES]     (defaults 50 and 30)
. "$(dirname "$0")/lib.sh"
KILLS=${1:-50}
EPISODES=${2:-30}

. "$(dirname "$0")/batch-lib.sh"
batch_setup crash "$EPISODES"
# 50 kills over 30 episodes interrupt some episodes several times: holding them as poison
# episodes would be right in production and wrong for this test.
printf '[retry]\nmax_interruptions = 100\n' >>"$t/policy.ini"

kills=0
for k in $(seq "$KILLS"); do
        "$MEMGOV" run -q -p "$t/policy.ini" "$t/manifest.jsonl" >>"$t/run.log" 2>&1 &
        run=$!
        # A random moment: 50-650 ms into the run.
        sleep "0.$(printf '%03d' $((50 + RANDOM % 600)))"
        if kill -9 "$run" 2>/dev/null; then kills=$((kills + 1)); fi
        wait "$run" 2>/dev/null
        run=
done
"$MEMGOV" run -q -p "$t/policy.ini" "$t/manifest.jsonl" >"$t/final.log" 2>&1
rc=$?
check "the final run exits 0 (all done)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || sed 's/^/# /' "$t/final.log" | tail -20

python3 - "$t" "$EPISODES" >"$t/verdict" <<'PY'
import os, sqlite3, sys
t, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(f"file:{t}/state/ledger.sqlite?mode=ro", uri=True)
states = dict(db.execute("select id, state from episodes"))
ok_runs = dict(db.execute("select episode_id, count(*) from stage_runs where stage='transcribe' and result='ok' group by episode_id"))
interrupted = db.execute("select count(*) from stage_runs where result='interrupted'").fetchone()[0]
runs = db.execute("select count(*) from stage_runs").fetchone()[0]
ids = [f"ep{i:02d}" for i in range(n)]
lost = [i for i in ids if i not in states]
not_done = [i for i in ids if states.get(i) != "done"]
dups = [i for i in ids if ok_runs.get(i, 0) > 1]
missing_out = [i for i in ids if not os.path.exists(f"{t}/state/out/{i}.txt")]
temp = []
for d in ("state/out", "state/spool"):
    for f in os.listdir(f"{t}/{d}"):
        if f.startswith(".#") or f.endswith(".part") or f.endswith(".meta") or f.endswith(".work") or ".tmp" in f:
            temp.append(f"{d}/{f}")
print(f"lost {len(lost)} {' '.join(lost)}")
print(f"not_done {len(not_done)} {' '.join(not_done)}")
print(f"duplicates {len(dups)} {' '.join(dups)}")
print(f"missing_outputs {len(missing_out)} {' '.join(missing_out)}")
print(f"temp_files {len(temp)} {' '.join(temp)}")
print(f"interrupted_runs {interrupted}")
print(f"stage_runs {runs}")
PY
val() { awk -v k="$1" '$1 == k { print $2 }' "$t/verdict"; }
echo "# crash test: $kills SIGKILLs, $EPISODES episodes, $(val stage_runs) stage runs, $(val interrupted_runs) interrupted and requeued"
echo "# lost $(val lost), not done $(val not_done), duplicate successful transcribe runs $(val duplicates), temp files $(val temp_files)"
check "no episode lost" [ "$(val lost)" = 0 ]
check "every episode done" [ "$(val not_done)" = 0 ]
check "no episode transcribed successfully twice" [ "$(val duplicates)" = 0 ]
check "every transcript is in the output folder" [ "$(val missing_outputs)" = 0 ]
check "no temporary files left" [ "$(val temp_files)" = 0 ]
check "the kills really interrupted stages" [ "$(val interrupted_runs)" -gt 0 ]
grep -E 'not_done|duplicates|temp_files|missing' "$t/verdict" | grep -v ' 0' | sed 's/^/# /'
finish
