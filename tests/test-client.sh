#!/bin/bash
# SPDX-License-Identifier: MIT
# The client verbs (submit, status, list, show, retry, cancel, release) against a stand-in daemon:
# tests/helpers/control-stub runs the real control server with canned replies and logs the
# requests it gets, so this checks what the verbs send, print and exit with.
. "$(dirname "$0")/lib.sh"
: "${top_builddir:=$PWD}"
stub="$top_builddir/tests/helpers/control-stub"
t=$(mktemp -d) && [ -d "$t" ] || exit 1
sock="$t/run/control.sock"
stub_pid=
cleanup() {
        if [ -n "$stub_pid" ]; then kill "$stub_pid" 2>/dev/null; wait "$stub_pid" 2>/dev/null; fi
        rm -rf "$t"
}
trap cleanup EXIT
export TZ=UTC LC_ALL=C.UTF-8

cat >"$t/replies.json" <<'EOF'
{
  "status": {"ok": true, "mode": "watchdog", "budget_bytes": 1610612736, "hard_usage_bytes": 838860800,
             "psi_some_avg10": 0.12, "psi_full_avg10": 0, "pressure": "open", "window": 3,
             "tokens": {"download": {"tokens": 1, "reason": null},
                        "transcribe": {"tokens": 0, "reason": "memory: 1.4 GiB reserved + estimate 512.0 MiB exceeds the budget of 1.5 GiB minus headroom"},
                        "api": {"tokens": 2, "reason": null}},
             "running": [{"id": "8670", "stage": "transcribe", "attempt": 2, "elapsed_ms": 723000,
                          "memory_bytes": 327155712, "limit_bytes": 671088640},
                         {"id": "a-very-long-episode-identifier-2024", "stage": "fetch", "attempt": 1,
                          "elapsed_ms": 4500, "memory_bytes": 12582912, "limit_bytes": 67108864}],
             "counts": {"queued": 3, "fetching": 1, "fetched": 0, "transcribing": 1, "done": 20,
                        "retry_wait": 2, "held": 1, "cancelled": 0, "failed": 4}},
  "list": {"ok": true, "episodes": [
             {"id": "8670", "state": "held", "attempts": 3, "updated_at": "2024-05-01T12:00:00Z",
              "updated_at_usec": 1714564800000000,
              "reason": "OOM-killed at the limit memory.job_max (1.0 GiB); release it with 'memgov release 8670'"},
             {"id": "8671", "state": "done", "attempts": 0, "updated_at_usec": 1714568400000000, "reason": null},
             {"id": "x\u001b[31m", "state": "queued", "attempts": 0, "updated_at_usec": null, "reason": "esc\u001b]0;"}]},
  "show": {"8670": {"ok": true,
             "episode": {"id": "8670", "url": "https://example.org/8670.mp3", "title": "Episode 8670",
                         "state": "held", "reason": "OOM-killed at job_max", "attempts": 3, "interruptions": 1,
                         "oom_count": 2, "oom_at_max_count": 1, "next_at": null, "next_at_usec": null,
                         "created_at_usec": 1714564800000000, "updated_at_usec": 1714568400000000,
                         "size_bytes": 88080384, "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                         "format": "mp3", "audio_path": "/var/lib/memgov/spool/8670.audio",
                         "transcript_path": null, "metadata_path": null, "current_limit_bytes": 1073741824},
             "runs": [
               {"run_id": 1, "episode_id": "8670", "stage": "fetch", "attempt": 1, "cgroup": "8670.fetch.1",
                "limit_bytes": 67108864, "started_at_usec": 1714564800000000, "ended_at_usec": 1714564862000000,
                "result": "ok", "exit_code": 0, "signal": 0, "oom_kill": false, "peak_bytes": 12582912,
                "duration_usec": 62000000, "error": null},
               {"run_id": 2, "episode_id": "8670", "stage": "transcribe", "attempt": 1, "cgroup": "8670.transcribe.1",
                "limit_bytes": 671088640, "started_at_usec": 1714564900000000, "ended_at_usec": 1714565200000000,
                "result": "oom", "exit_code": 0, "signal": 9, "oom_kill": true, "peak_bytes": 671088640,
                "duration_usec": 300000000, "error": "killed by the OOM killer at 640.0 MiB"},
               {"run_id": 3, "episode_id": "8670", "stage": "transcribe", "attempt": 2, "cgroup": "8670.transcribe.2",
                "limit_bytes": 1073741824, "started_at_usec": 1714565300000000, "ended_at_usec": 1714565400000000,
                "result": "signal", "exit_code": 0, "signal": 15, "oom_kill": false, "peak_bytes": 104857600,
                "duration_usec": 100000000, "error": null},
               {"run_id": 4, "episode_id": "8670", "stage": "transcribe", "attempt": 3, "cgroup": "8670.transcribe.3",
                "limit_bytes": 1073741824, "started_at_usec": 1714565500000000, "ended_at_usec": 1714565600000000,
                "result": "exit", "exit_code": 3, "signal": 0, "oom_kill": false, "peak_bytes": 104857600,
                "duration_usec": 100000000, "error": "pocketsphinx: cannot open model"}]},
           "*": {"ok": false, "error": "no episode with that id"}},
  "submit": {"known": {"ok": true, "new": false, "state": "done"},
             "rejected": {"ok": false, "error": "URL: scheme 'ftp' is not allowed by [fetch] protocols"},
             "*": {"ok": true, "new": true, "state": "queued"}},
  "retry": {"ok": true, "state": "queued"},
  "cancel": {"ok": true, "state": "cancelled"},
  "release": {"8670": {"ok": true, "state": "queued"}, "*": {"ok": false, "error": "episode 9 is not held"}}
}
EOF

group_arg=()
[ "$(id -u)" -eq 0 ] || group_arg=("$(id -gn)") # the stub's server lets only root in otherwise
"$stub" "$sock" "$t/replies.json" "$t/requests.log" "${group_arg[@]}" &
stub_pid=$!
for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
check "stand-in daemon is up" test -S "$sock"

# run NAME EXPECTED_EXIT ARGS…: runs memgov, keeps stdout/stderr in $t/out, $t/err.
run() {
        local name=$1 want=$2 rc; shift 2
        "$MEMGOV" "$@" >"$t/out" 2>"$t/err"; rc=$?
        if [ "$rc" -eq "$want" ]; then ok "$name (exit $want)"
        else fail "$name: exit $rc, wanted $want"; sed 's/^/# err: /' "$t/err"; fi
}
# same NAME: $t/out equals $t/want.
same() {
        if cmp -s "$t/want" "$t/out"; then ok "$1"
        else fail "$1"; diff -u "$t/want" "$t/out" | sed 's/^/# /'; fi
}
narrow() { [ "$(wc -L <"$t/out")" -le 80 ]; }
last_request() { tail -n1 "$t/requests.log"; }

run "status" 0 status --socket "$sock"
cat >"$t/want" <<'EOF'
mode:       watchdog
budget:     1.5 GiB, hard usage 800.0 MiB (52%)
pressure:   open (avg10 some 0.12%, full 0.00%)
window:     3 stages at once
tokens:
  download      1
  transcribe    0  memory: 1.4 GiB reserved + estimate 512.0 MiB exceeds the b…
  api           2
running:
  ID                    STAGE       TRY   ELAPSED      MEMORY       LIMIT
  8670                  transcribe    2    12m03s   312.0 MiB   640.0 MiB
  a-very-long-episode…  fetch         1        4s    12.0 MiB    64.0 MiB
episodes:   queued 3, fetching 1, transcribing 1, done 20, retry_wait 2, held 1,
            failed 4
EOF
same "status: human summary"
check "status: fits 80 columns" narrow
check "status: sends {cmd:status}" [ "$(last_request)" = '{"cmd":"status"}' ]

run "status --json" 0 status --json --socket "$sock"
check "status --json: the reply as is" grep -q '^{"ok":true,"mode":"watchdog","budget_bytes":1610612736,' "$t/out"
check "status --json: one line" [ "$(wc -l <"$t/out")" -eq 1 ]

run "list" 0 list --socket "$sock"
cat >"$t/want" <<'EOF'
ID      STATE         TRY  UPDATED           REASON
8670    held            3  2024-05-01 12:00  OOM-killed at the limit memory.jo…
8671    done            0  2024-05-01 13:00
x?[31m  queued          0  -                 esc?]0;
3 episodes
EOF
same "list: table, clipped, control characters neutralised"
check "list: fits 80 columns" narrow
run "list --state" 0 list --state held --socket "$sock"
check "list --state: sends the state" [ "$(last_request)" = '{"cmd":"list","state":"held"}' ]
run "list --state bogus" 2 list --state bogus --socket "$sock"
check "list --state bogus: names the states" grep -q "'bogus' is not one of queued, fetching" "$t/err"

run "show" 0 show 8670 --socket "$sock"
cat >"$t/want" <<'EOF'
episode:    8670
title:      Episode 8670
url:        https://example.org/8670.mp3
state:      held: OOM-killed at job_max
attempts:   3 failed, 1 interrupted, 2 OOM kills
created:    2024-05-01 12:00:00
updated:    2024-05-01 13:00:00
audio:      84.0 MiB mp3
sha256:     9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
audio file: /var/lib/memgov/spool/8670.audio
limit:      1.0 GiB
runs:
  #1  fetch       ok              peak 12.0 MiB of 64.0 MiB  1m02s
      started 2024-05-01 12:00:00, cgroup 8670.fetch.1
  #1  transcribe  oom             peak 640.0 MiB of 640.0 MiB  5m00s
      started 2024-05-01 12:01:40, cgroup 8670.transcribe.1
      error: killed by the OOM killer at 640.0 MiB
  #2  transcribe  SIGTERM         peak 100.0 MiB of 1.0 GiB  1m40s
      started 2024-05-01 12:08:20, cgroup 8670.transcribe.2
  #3  transcribe  exit 3          peak 100.0 MiB of 1.0 GiB  1m40s
      started 2024-05-01 12:11:40, cgroup 8670.transcribe.3
      error: pocketsphinx: cannot open model
EOF
same "show: episode and runs"
check "show: fits 80 columns" narrow
run "show of an unknown episode" 1 show 9 --socket "$sock"
check "show: the daemon's error is printed" grep -qx 'memgov: error: no episode with that id' "$t/err"
run "show --json of an unknown episode" 1 show 9 --json --socket "$sock"
check "show --json: the error reply as is" grep -qx '{"ok":false,"error":"no episode with that id"}' "$t/out"
run "show with a bad id" 2 show ../x --socket "$sock"
check "show: bad id named" grep -q "'../x' is not a valid episode ID" "$t/err"

run "submit" 0 submit 8670 https://example.org/a.mp3 --title "Ep 1" --socket "$sock"
check "submit: output" [ "$(cat "$t/out")" = "8670: submitted (queued)" ]
check "submit: request" [ "$(last_request)" = '{"cmd":"submit","id":"8670","url":"https://example.org/a.mp3","title":"Ep 1"}' ]
run "submit of a known episode" 0 submit known https://example.org/a.mp3 --socket "$sock"
check "submit: known" [ "$(cat "$t/out")" = "known: already known (done)" ]
run "submit refused by the daemon" 1 submit rejected ftp://example.org/a.mp3 --socket "$sock"
check "submit: refusal printed" grep -q "scheme 'ftp' is not allowed" "$t/err"
run "submit without URL" 2 submit 8670 --socket "$sock"
run "submit --manifest with an ID" 2 submit 8670 --manifest x --socket "$sock"

run "retry --force" 0 retry 8670 --force --socket "$sock"
check "retry: output" [ "$(cat "$t/out")" = "8670: queued" ]
check "retry --force: request" [ "$(last_request)" = '{"cmd":"retry","id":"8670","force":true}' ]
run "retry" 0 retry 8670 --socket "$sock"
check "retry: force false" [ "$(last_request)" = '{"cmd":"retry","id":"8670","force":false}' ]
run "retry --title" 2 retry 8670 --title x --socket "$sock"
check "retry --title: the option is named" grep -qx "memgov: error: 'memgov retry' has no option --title" "$t/err"
run "cancel" 0 cancel 8670 --socket "$sock"
check "cancel: output" [ "$(cat "$t/out")" = "8670: cancelled" ]
check "cancel: request" [ "$(last_request)" = '{"cmd":"cancel","id":"8670"}' ]
run "release" 0 release 8670 --socket "$sock"
run "release refused" 1 release 9 --socket "$sock"
check "release: refusal printed" grep -qx 'memgov: error: episode 9 is not held' "$t/err"
run "cancel without an id" 2 cancel --socket "$sock"
run "status --help" 0 status --help
check "status --help: usage and exit codes" bash -c "grep -q '^Usage: memgov status' '$t/out' && grep -q '3 no daemon could be reached' '$t/out'"
check "--help fits 80 columns" narrow
"$MEMGOV" --help >"$t/out"
check "memgov --help lists the client verbs" bash -c "grep -q '^  submit ' '$t/out' && grep -q '^  release ' '$t/out'"

# The socket path from a policy.
printf '[paths]\nsocket = %s\n' "$sock" >"$t/policy.ini"
run "status -p POLICY" 0 status -p "$t/policy.ini"
run "bad policy" 1 status -p "$t/missing.ini"

# A manifest: good lines are submitted one request each, bad ones reported by line number.
cat >"$t/manifest.jsonl" <<'EOF'
{"id":"m1","url":"https://example.org/1.mp3","title":"One"}
{"id":"known","url":"https://example.org/2.mp3"}
not json
{"id":"rejected","url":"https://example.org/3.mp3"}
{"id":"../x","url":"https://example.org/4.mp3"}
# a comment
{"id":"m2","url":"https://example.org/5.mp3"}
EOF
: >"$t/requests.log"
run "submit --manifest with bad lines" 1 submit --manifest "$t/manifest.jsonl" --socket "$sock"
check "manifest: summary" [ "$(cat "$t/out")" = "2 submitted, 1 already known, 3 bad lines" ]
check "manifest: bad JSON line named" grep -q "$t/manifest.jsonl:3: " "$t/err"
check "manifest: refused line named" grep -q "$t/manifest.jsonl:4: rejected: URL: scheme 'ftp' is not allowed" "$t/err"
check "manifest: bad id line named" grep -q "$t/manifest.jsonl:5: " "$t/err"
check "manifest: four requests, the bad lines not sent" [ "$(wc -l <"$t/requests.log")" -eq 4 ]
check "manifest: title sent" grep -qx '{"cmd":"submit","id":"m1","url":"https://example.org/1.mp3","title":"One"}' "$t/requests.log"
head -n2 "$t/manifest.jsonl" >"$t/good.jsonl"
run "submit --manifest, all good, --json" 0 submit --json --manifest "$t/good.jsonl" --socket "$sock"
check "manifest --json: one reply per line" [ "$(grep -c '^{"ok":true' "$t/out")" -eq 2 ]
check "manifest --json: summary on stderr" grep -qx '1 submitted, 1 already known, 0 bad lines' "$t/err"
run "submit --manifest of a missing file" 1 submit --manifest "$t/nothing.jsonl" --socket "$sock"

# Access: the socket is root's (0660 root:root); anyone else is told who may use it.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
        chmod 755 "$t" "$t/run"
        setpriv --reuid=65534 --regid=65534 --clear-groups "$MEMGOV" status --socket "$sock" >"$t/out" 2>"$t/err"
        rc=$?
        check "not root: exit 3" [ $rc -eq 3 ]
        check "not root: says who may" grep -q "permission denied on $sock: only root may use" "$t/err"
else
        skip "not root: exit 3" "needs root and setpriv to run the client as nobody"
        skip "not root: says who may" "needs root and setpriv"
fi

# No daemon.
run "no daemon" 3 status --socket "$t/none.sock"
check "no daemon: what to do" grep -qx "memgov: error: no memgov daemon at $t/none.sock (is it running? see 'systemctl status memgov')" "$t/err"
kill "$stub_pid"
wait "$stub_pid" 2>/dev/null
stub_pid=
check "stopped daemon removed its socket" test ! -e "$sock"
run "daemon gone" 3 list --socket "$sock"
run "manifest, daemon gone" 3 submit --manifest "$t/good.jsonl" --socket "$sock"
finish
