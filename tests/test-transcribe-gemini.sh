#!/bin/bash
# SPDX-License-Identifier: MIT
# 'memgov transcribe' with the gemini backend against tests/mock-gemini.py on 127.0.0.1: the
# resumable upload (granularity, a cut connection recovered by query), PROCESSING -> ACTIVE,
# FAILED, 429 with RetryInfo, 503, MAX_TOKENS (split and redone), redirects (never followed), an
# upload URL on another host (refused), and the API key: only in x-goog-api-key, only to the
# endpoint, never in a URL, an error message or a log.
. "$(dirname "$0")/lib.sh"

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=87"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

if ! command -v python3 >/dev/null; then
        skip "gemini backend tests" "python3 is not installed (the mock server needs it)"
        finish
        exit
fi

t=$(mktemp -d /var/tmp/memgov-test-gemini.XXXXXX)
pid=
cleanup() {
        [ -n "$pid" ] && kill "$pid" 2>/dev/null
        wait 2>/dev/null
        rm -rf "$t"
}
trap cleanup EXIT

KEY="AIzaMemgovTestKey-$$-$RANDOM$RANDOM"
mkdir -p "$t/out" "$t/store" "$t/spool"
python3 "$top_srcdir/tests/mock-gemini.py" --log "$t/mock.log" --key "$KEY" --dir "$t/store" \
        >"$t/mock.out" 2>"$t/mock.err" &
pid=$!
for _ in $(seq 100); do [ -s "$t/mock.out" ] && break; sleep 0.1; done
port=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["port"])' "$t/mock.out" 2>/dev/null)
if [ -z "$port" ]; then
        fail "mock-gemini.py starts"
        sed 's/^/# /' "$t/mock.err"
        finish
        exit
fi
B="http://127.0.0.1:$port"

printf '%s\n' "$KEY" >"$t/key"
chmod 600 "$t/key"
policy() { # policy FILE [EXTRA LINES]: the gemini policy used by every test
        printf '[transcribe]\nbackend = gemini\nchunk_duration = %s\n[command]\nprepare = %s\n[gemini]\nendpoint = %s\napi_key_file = %s\npoll_interval = 100ms\n%s\n' \
                "${CHUNK:-10s}" "${PREPARE:-}" "$B" "${KEYFILE:-$t/key}" "$2" >"$1"
}
policy "$t/p.ini"

# gen_wav FILE SECONDS: 8 kHz, 2 channels, 16 bit; sample frame i holds i (left: low 16 bits,
# right: high 16 bits), so the mock's "transcript" of a chunk names the frames it holds.
gen_wav() {
        python3 - "$1" "$2" <<'EOF'
import array, struct, sys
n = int(float(sys.argv[2]) * 8000)
with open(sys.argv[1], "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", 36 + 4 * n) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 2, 8000, 32000, 4, 16))
    f.write(b"data" + struct.pack("<I", 4 * n))
    for start in range(0, n, 1 << 20):  # frame i as a little-endian 32-bit i: left low, right high
        f.write(array.array("I", range(start, min(n, start + (1 << 20)))).tobytes())
EOF
}
gen_wav "$t/spool/25s.wav" 25
gen_wav "$t/spool/big.wav" 330 # 10.56 MB: one chunk, uploaded in pieces

ctl() { # ctl JSON: the mock's behaviour for the next run (counters reset)
        python3 -c 'import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST")).read()' \
                "$B/_control" "$1"
}
mark() { lines=$(wc -l <"$t/mock.log" 2>/dev/null || echo 0); }
# logq EXPR: a Python expression over r, the requests since the last mark (a list of dicts).
logq() {
        python3 -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1]).readlines()[int(sys.argv[2]):]]
print(eval(sys.argv[3]))' "$t/mock.log" "$lines" "$1"
}
state() { python3 -c 'import json, sys, urllib.request
s = json.loads(urllib.request.urlopen(sys.argv[1]).read())
print(eval(sys.argv[2]))' "$B/_state" "$1"; }

n_run=0
run() { # run ID AUDIO [POLICY]: $rc, $t/out.N (stdout), $t/err.N (stderr)
        n_run=$((n_run + 1))
        out=$t/run.$n_run.out err=$t/run.$n_run.err
        mark
        "$MEMGOV" transcribe -p "${3:-$t/p.ini}" --id "$1" --audio "$2" --out-dir "$t/out" >"$out" 2>"$err"
        rc=$?
}
j() { python3 -c 'import json, sys
d = json.loads(open(sys.argv[1]).read()); v = d.get(sys.argv[2])
print("" if v is None else str(v).lower() if isinstance(v, bool) else v)' "$out" "$1" 2>/dev/null; }
contract() {
        [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || { echo "# exit status $rc"; return 1; }
        [ "$(wc -l <"$out")" -eq 1 ] || { echo "# stdout is not one line"; return 1; }
        python3 -c 'import json, sys; json.loads(open(sys.argv[1]).read())' "$out" || return 1
        ! grep -q -e 'Sanitizer' -e 'runtime error' "$err"
}
expect() { # expect NAME ok|retryable|permanent [CHECK…]
        local name=$1 want=$2 got
        shift 2
        if ! contract; then
                fail "$name: stage contract"
                sed 's/^/# /' "$out" "$err" | head -20
                return
        fi
        if [ "$(j ok)" = true ]; then got=ok; elif [ "$(j retryable)" = true ]; then got=retryable; else got=permanent; fi
        if [ "$got" = "$want" ] && { [ $# -eq 0 ] || "$@"; }; then
                ok "$name"
        else
                fail "$name (got $got)"
                sed 's/^/# /' "$out" "$err" | head -20
        fi
}
# covers ID FRAMES: the transcript is "[frames a-b]" lines, contiguous from 0 to FRAMES-1.
covers() {
        python3 - "$t/out/$1.txt" "$2" <<'EOF'
import re, sys
want, nxt = int(sys.argv[2]), 0
for line in open(sys.argv[1]).read().splitlines():
    m = re.fullmatch(r"\[frames (\d+)-(\d+)\]", line)
    if not m or int(m.group(1)) != nxt:
        print("# unexpected line %r (expected frames from %d)" % (line, nxt)); sys.exit(1)
    nxt = int(m.group(2)) + 1
if nxt != want:
    print("# the transcript ends at frame %d, not %d" % (nxt, want)); sys.exit(1)
EOF
}
errmsg() { grep -qF -- "$1" "$out"; }
export -f j logq state covers errmsg
export t out B lines

# --- the normal path ---------------------------------------------------------------------------
ctl '{}'
run ep1 "$t/spool/25s.wav"
expect "25 s WAV in 3 chunks, stitched in order" ok bash -c "[ '$(j chunks)' = 3 ] && covers ep1 200000"
check "each chunk: start, one upload request, generateContent, delete" \
        [ "$(logq '[x["path"].rsplit(":", 1)[-1].rsplit("/", 1)[-1] + ("/" + x["command"] if x.get("command") else "") + "/" + x["method"] for x in r]')" = \
        "$(python3 -c 'print(["files/POST", "files/upload, finalize/POST", "generateContent/POST", "f1/DELETE",
 "files/POST", "files/upload, finalize/POST", "generateContent/POST", "f2/DELETE",
 "files/POST", "files/upload, finalize/POST", "generateContent/POST", "f3/DELETE"])')" ]
check "every remote file was deleted" [ "$(state 'all(f["deleted"] for f in s["files"].values()) and len(s["files"])')" = 3 ]
check "the uploads declared the WAV type" [ "$(logq 'sorted({x["headers"].get("x-goog-upload-header-content-type") for x in r if x.get("headers", {}).get("x-goog-upload-command") == "start"})')" = "['audio/wav']" ]
check "the key went only in x-goog-api-key, to the endpoint" \
        [ "$(logq 'all(x["headers"].get("x-goog-api-key") == "'"$KEY"'" and x["server"] == "main" and "key" not in x["query"] for x in r)')" = True ]
check "<id>.json records 3 chunks with byte and time offsets" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
c = d["chunks"]
assert d["backend"] == "gemini" and d["source"]["format"] == "wav" and len(d["source"]["sha256"]) == 64
assert [x["offset"] for x in c] == [44, 44 + 4 * 66667, 44 + 8 * 66667], c
assert c[0]["start"] == 0 and abs(c[1]["start"] - 66667 / 8000) < 0.002 and sum(x["length"] for x in c) == 800000
assert d["memory"] == {} and d["timings"]["started"].endswith("Z")' "$t/out/ep1.json"

printf 'Transcribe this, mock: custom prompt 42.\n' >"$t/prompt.txt"
policy "$t/prompt.ini" $'prompt_file = '"$t/prompt.txt"$'\ndelete_after = no'
ctl '{}'
run prompt "$t/spool/25s.wav" "$t/prompt.ini"
prompts=$(logq 'sum(x.get("prompt") == "Transcribe this, mock: custom prompt 42.\n" for x in r)')
deleted=$(state 'sum(f["deleted"] for f in s["files"].values())')
expect "prompt_file is the prompt; delete_after = no keeps the files" ok [ "$prompts/$deleted" = 3/0 ]
check "the built-in prompt asks for a verbatim transcript" bash -c "grep -q 'Transcribe the speech in this audio verbatim' '$t/mock.log'"

# --- granularity and resumption ----------------------------------------------------------------
ctl '{"granularity": 3000000}'
run big "$t/spool/big.wav" "$(CHUNK=1h policy "$t/p1h.ini"; echo "$t/p1h.ini")"
expect "a 10 MB chunk goes in granularity-sized pieces" ok bash -c \
        "[ \"\$(logq '[(x[\"offset\"], x[\"body_len\"], x[\"command\"]) for x in r if x.get(\"command\", \"\").startswith(\"upload\")]')\" = \
        \"[(0, 6000000, 'upload'), (6000000, 4560044, 'upload, finalize')]\" ] && covers big 2640000"

ctl '{"granularity": 3000000, "cut_after": 4000000}'
run big2 "$t/spool/big.wav" "$t/p1h.ini"
# libcurl may first resend the piece on a fresh connection (it does when a reused connection dies
# early): the server refuses that offset with 400 while the session is active, and the query
# follows then. Either way the accepted requests are these.
expect "an upload cut mid-way is resumed after a query" ok bash -c \
        "[ \"\$(logq '[(x[\"command\"], x.get(\"offset\"), x.get(\"kept\")) for x in r if x.get(\"command\") and x[\"status\"] in (200, None)]')\" = \
        \"[('upload', 0, 3000000), ('query', None, None), ('upload', 3000000, None), ('upload, finalize', 9000000, None)]\" ] && covers big2 2640000"

# --- file processing -------------------------------------------------------------------------
ctl '{"processing_polls": 3}'
run proc "$t/spool/25s.wav"
expect "PROCESSING -> ACTIVE is waited for" ok bash -c "covers proc 200000 && [ \"\$(state '[f[\"gets\"] for f in s[\"files\"].values()]')\" = '[4, 4, 4]' ]"

ctl '{"processing_polls": 1, "fail_file": true}'
run failed "$t/spool/25s.wav"
expect "a FAILED file is a permanent error" permanent bash -c "errmsg FAILED && errmsg 'could not be processed' &&
        [ \"\$(state 'all(f[\"deleted\"] for f in s[\"files\"].values())')\" = True ] && [ ! -e '$t/out/failed.txt' ]"

# --- rate limits and server errors ---------------------------------------------------------------
ctl '{"retry_429": 1, "retry_delay": "1.2s"}'
start=$(date +%s%N)
run r429 "$t/spool/25s.wav"
ms=$((($(date +%s%N) - start) / 1000000))
expect "429 with RetryInfo retryDelay is waited out and retried" ok bash -c "covers r429 200000 && [ $ms -ge 1200 ] &&
        [ \"\$(state 's[\"counters\"][\"generate\"]')\" = 4 ]"

ctl '{"retry_429": 99, "retry_delay": "120s"}'
start=$(date +%s%N)
run r429long "$t/spool/25s.wav"
ms=$((($(date +%s%N) - start) / 1000000))
expect "a long retryDelay goes back to the scheduler as retry_after" retryable bash -c \
        "[ '$(j retry_after)' = 120 ] && [ '$(j status)' = 429 ] && [ $ms -lt 10000 ]"

ctl '{"retry_429": 99, "daily_quota": true}'
run daily "$t/spool/25s.wav"
expect "a daily quota without RetryInfo is retryable an hour later" retryable bash -c "[ '$(j retry_after)' = 3600 ]"

ctl '{"fail_503": 2}'
run r503 "$t/spool/25s.wav"
expect "503 is retried with backoff" ok bash -c "covers r503 200000"

ctl '{"fail_503": 99}'
run r503x "$t/spool/25s.wav"
expect "a 503 that persists is retryable" retryable bash -c "[ '$(j status)' = 503 ] && errmsg overloaded &&
        [ \"\$(state 's[\"counters\"][\"generate\"]')\" = 4 ]"

ctl '{"bad_request": true}'
run bad "$t/spool/25s.wav"
expect "another 4xx is permanent, with the API's message" permanent bash -c "errmsg 'HTTP 400' && errmsg 'invalid argument'"

# --- MAX_TOKENS ----------------------------------------------------------------------------------
ctl '{"max_tokens_over": 5}'
run split "$t/spool/25s.wav"
expect "MAX_TOKENS: the chunk is split in two and redone" ok bash -c "[ '$(j chunks)' = 6 ] && covers split 200000 &&
        python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))[\"chunks\"]; assert [x[\"split\"] for x in c] == [1] * 6' '$t/out/split.json'"

ctl '{"max_tokens_over": 0.5}'
run nosplit "$t/spool/25s.wav"
expect "MAX_TOKENS down to the smallest chunk is permanent" permanent errmsg "output limit"

# --- the key: never redirected, never to another host, never shown -------------------------------
ctl '{"redirect_start": true}'
run redir "$t/spool/25s.wav"
expect "a redirect is not followed" permanent bash -c "errmsg redirect && [ \"\$(logq 'sum(x[\"server\"] != \"main\" for x in r)')\" = 0 ]"

ctl '{"redirect_generate": true}'
run redir2 "$t/spool/25s.wav"
expect "a redirect of generateContent is not followed" permanent bash -c \
        "errmsg 'HTTP 307' && [ \"\$(logq 'sum(x[\"server\"] != \"main\" for x in r)')\" = 0 ]"

ctl '{"foreign_upload_url": true}'
run foreign "$t/spool/25s.wav"
expect "an upload URL on another host is refused" permanent bash -c \
        "errmsg '127.0.0.2' && [ \"\$(logq 'sum(x[\"server\"] != \"main\" for x in r)')\" = 0 ]"

ctl '{"echo_key_error": true}'
run echo "$t/spool/25s.wav"
expect "an error message quoting the key is redacted" permanent bash -c "errmsg '[redacted]' && ! grep -qF -- '$KEY' '$out' '$err'"

ctl '{"wrong_sha": true}'
run sha "$t/spool/25s.wav"
expect "a server hash that differs from the file's is retryable" retryable errmsg "SHA-256"

printf '%s\n' "$KEY" >"$t/key644"
chmod 644 "$t/key644"
KEYFILE=$t/key644 policy "$t/p644.ini"
run perms "$t/spool/25s.wav" "$t/p644.ini"
expect "a key file readable by others is refused" permanent bash -c "errmsg 'chmod o-rwx' && [ \"\$(logq 'len(r)')\" = 0 ]"

# prepare for the remote backends: only for what cannot be split. Here it strips 4 bytes of junk
# (a WAV that the stage does not recognise); on a plain WAV it would break the file.
{ printf 'JUNK'; cat "$t/spool/25s.wav"; } >"$t/spool/junk.bin"
PREPARE='/bin/sh -c "tail -c +5 \"$0\" >\"$1\"" {audio} {prepared}' policy "$t/strip.ini"
ctl '{}'
run strip "$t/spool/junk.bin" "$t/strip.ini"
expect "prepare converts what cannot be split" ok covers strip 200000
run nostrip "$t/spool/25s.wav" "$t/strip.ini"
expect "prepare is skipped for WAV and MP3 with a remote backend" ok covers nostrip 200000

printf 'fLaC\0\0\0\x22 not really audio' >"$t/spool/ep.flac"
ctl '{}'
run flac "$t/spool/ep.flac"
expect "FLAC without [command] prepare is a permanent error naming the format" permanent errmsg "is flac audio"

check "the key never appears in any output of any run" bash -c "! grep -rqF -- '$KEY' $t/run.*"
check "no request ever reached the decoy servers" [ "$(lines=0 logq 'sum(x["server"] != "main" for x in r)')" = 0 ]
check "no request carried the key in its URL" [ "$(lines=0 logq 'sum("key" in x["query"] for x in r)')" = 0 ]
check "the work folders are removed" bash -c "! ls '$t/spool' | grep -q work"
finish
