#!/bin/bash
# SPDX-License-Identifier: MIT
# The poison episode (issue 6): an episode whose transcription always runs out of memory is
# retried with an escalated limit up to job_max, then held with the reason, while the others
# finish; the batch does not hang on it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/batch-lib.sh"
batch_setup poison 4
printf '{"id":"poison","url":"http://127.0.0.1:%s/poison00.wav"}\n' "$port" >>"$t/manifest.jsonl"
# Small limits: 32M × 1.25 = 40M, then ×1.5 each OOM up to job_max 128M. The estimate falls as
# the other episodes finish (they need less), but a limit that was OOM-killed never comes back.
sed -i 's/^job_max = 256M/job_max = 128M/; s/^estimate = 128M/estimate = 32M/' "$t/policy.ini"

"$MEMGOV" run -p "$t/policy.ini" "$t/manifest.jsonl" >"$t/out" 2>"$t/err"
rc=$?
check "the run ends, exit 1 (one episode not done)" [ $rc -eq 1 ]
check "the other episodes are done" grep -q '^memgov run: 4 done, 0 failed, 1 held' "$t/out"
check "the poison episode is held with the reason" grep -q 'poison: held: .*out of memory' "$t/err"
python3 - "$t" >"$t/runs" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}/state/ledger.sqlite?mode=ro", uri=True)
for row in db.execute("select attempt, result, limit_bytes from stage_runs where episode_id='poison' and stage='transcribe' order by attempt"):
    print(*row)
print("state", db.execute("select state from episodes where id='poison'").fetchone()[0])
PY
sed 's/^/# /' "$t/runs"
limits=$(awk '$2 == "oom" || $2 == "watchdog" { printf "%s ", int($3 / 1048576) }' "$t/runs")
# The first limit is 40M (the seed) or less (the others' peaks taught the estimator, and job_min is
# 32M), depending on when the poison episode comes up; from then on ×1.5 each OOM (1.4 allows for
# rounding to pages) or job_max.
check "each attempt got a larger limit up to job_max (MiB: $limits)" bash -c "echo '$limits' | awk '
        \$1 > 40 || NF < 4 || \$NF != 128 { exit 1 }
        { for (i = 2; i <= NF; i++) if (\$i != 128 && \$i < \$(i - 1) * 1.4) exit 1 }'"
check "the ledger says held" grep -qx 'state held' "$t/runs"
finish
