#!/bin/bash
# SPDX-License-Identifier: MIT
# 'memgov transcribe' with the openai backend against tests/mock-openai.py on 127.0.0.1: the
# multipart form (model, response_format, language, the file part byte for byte), json,
# verbose_json and text answers, the upload limit respected by splitting, 413, 429, 500, the
# error shapes of whisper.cpp/speaches/plain text, and the Bearer key (sent only when set,
# never shown).
. "$(dirname "$0")/lib.sh"

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=87"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

if ! command -v python3 >/dev/null; then
        skip "openai backend tests" "python3 is not installed (the mock server needs it)"
        finish
        exit
fi

t=$(mktemp -d /var/tmp/memgov-test-openai.XXXXXX)
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        wait 2>/dev/null
        rm -rf "$t"
}
trap cleanup EXIT

KEY="sk-memgov-test-$$-$RANDOM$RANDOM"
export MEMGOV_TEST_OPENAI_KEY=$KEY
mkdir -p "$t/out" "$t/spool"
start_mock() { # start_mock NAME [ARGS]: sets $port
        python3 "$top_srcdir/tests/mock-openai.py" --log "$t/$1.log" "${@:2}" >"$t/$1.port" 2>"$t/$1.err" &
        pids+=($!)
        for _ in $(seq 100); do [ -s "$t/$1.port" ] && break; sleep 0.1; done
        port=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["port"])' "$t/$1.port" 2>/dev/null)
}
start_mock open
if [ -z "$port" ]; then
        fail "mock-openai.py starts"
        sed 's/^/# /' "$t/open.err"
        finish
        exit
fi
B="http://127.0.0.1:$port"
start_mock keyed --key "$KEY"
BK="http://127.0.0.1:$port"

policy() { # policy FILE ENDPOINT [EXTRA [openai] LINES]
        printf '[transcribe]\nbackend = openai\nchunk_duration = %s\n%s[command]\nprepare =\n[openai]\nendpoint = %s\nmodel = whisper-large-v3\n%s\n' \
                "${CHUNK:-10s}" "${LANG_LINE:-}" "$2" "$3" >"$1"
}

gen_wav() { # gen_wav FILE SECONDS: 8 kHz stereo 16 bit, sample frame i holds i (see mock-gemini.py)
        python3 - "$1" "$2" <<'EOF'
import array, struct, sys
n = int(float(sys.argv[2]) * 8000)
with open(sys.argv[1], "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", 36 + 4 * n) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 2, 8000, 32000, 4, 16))
    f.write(b"data" + struct.pack("<I", 4 * n))
    f.write(array.array("I", range(n)).tobytes())
EOF
}
gen_wav "$t/spool/25s.wav" 25

ctl() {
        python3 -c 'import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST")).read()' \
                "${2:-$B}/_control" "$1"
}
LOGF=$t/open.log
mark() { lines=$(wc -l <"$LOGF" 2>/dev/null || echo 0); }
logq() {
        python3 -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1]).readlines()[int(sys.argv[2]):]]
print(eval(sys.argv[3]))' "$LOGF" "$lines" "$1"
}
n_run=0
run() { # run ID AUDIO POLICY
        n_run=$((n_run + 1))
        out=$t/run.$n_run.out err=$t/run.$n_run.err
        mark
        "$MEMGOV" transcribe -p "$3" --id "$1" --audio "$2" --out-dir "$t/out" >"$out" 2>"$err"
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
expect() {
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
covers() {
        python3 - "$t/out/$1.txt" "$2" <<'EOF'
import re, sys
want, nxt = int(sys.argv[2]), 0
for line in open(sys.argv[1]).read().splitlines():
    m = re.fullmatch(r"\[frames (\d+)-(\d+)\]", line.strip())
    if not m or int(m.group(1)) != nxt:
        print("# unexpected line %r (expected frames from %d)" % (line, nxt)); sys.exit(1)
    nxt = int(m.group(2)) + 1
if nxt != want:
    print("# the transcript ends at frame %d, not %d" % (nxt, want)); sys.exit(1)
EOF
}
# same_bytes ID AUDIO: every file part the server got is, byte for byte, the chunk <id>.json
# describes: a fresh WAV header (whose sizes mock-openai.py's describe_audio checks) and the
# source's sample data from offset to offset + length.
same_bytes() {
        python3 - "$t/out/$1.json" "$2" "$LOGF" "$lines" <<'EOF'
import hashlib, json, struct, sys
meta = json.load(open(sys.argv[1]))
src = open(sys.argv[2], "rb").read()
reqs = [json.loads(l) for l in open(sys.argv[3]).readlines()[int(sys.argv[4]):]]
got = [r["fields"]["file_sha256"] for r in reqs if r["status"] == 200]
want = []
for c in meta["chunks"]:
    data = src[c["offset"]:c["offset"] + c["length"]]
    hdr = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + src[12:36] + b"data" + struct.pack("<I", len(data))
    want.append(hashlib.sha256(hdr + data).hexdigest())
if got != want:
    print("# file parts %s, expected %s" % (got, want)); sys.exit(1)
EOF
}
errmsg() { grep -qF -- "$1" "$out"; }
export -f j logq covers same_bytes errmsg
export t B LOGF

# --- formats -------------------------------------------------------------------------------------
policy "$t/json.ini" "$B" "response_format = json"
ctl '{}'
run j1 "$t/spool/25s.wav" "$t/json.ini"
expect "json: 25 s in 3 chunks, stitched in order" ok bash -c "[ '$(j chunks)' = 3 ] && covers j1 200000"
export out lines
check "the file parts are the chunks, byte for byte, with valid WAV headers" same_bytes j1 "$t/spool/25s.wav"
check "form fields: model, response_format, no language; file name and type" \
        [ "$(logq '[(x["fields"]["model"], x["fields"]["response_format"], "language" in x["fields"], x["fields"]["file_name"], x["fields"]["file_type"]) for x in r]')" = \
        "[('whisper-large-v3', 'json', False, 'j1-1.wav', 'audio/wav'), ('whisper-large-v3', 'json', False, 'j1-2.wav', 'audio/wav'), ('whisper-large-v3', 'json', False, 'j1-3.wav', 'audio/wav')]" ]
check "no key configured: no Authorization header" [ "$(logq 'sum("authorization" in x["headers"] for x in r)')" = 0 ]
check "multipart from disk: a Content-Length body, no Expect: 100-continue" \
        [ "$(logq '{("content-length" in x["headers"], "expect" in x["headers"], x["headers"].get("transfer-encoding")) for x in r}')" = "{(True, False, None)}" ]

LANG_LINE=$'language = en\n' policy "$t/verbose.ini" "$B/v1/" "response_format = verbose_json"
run v1 "$t/spool/25s.wav" "$t/verbose.ini"
expect "verbose_json, language, an endpoint ending in /v1/" ok bash -c "covers v1 200000 &&
        [ \"\$(logq '{(x[\"path\"], x[\"fields\"][\"response_format\"], x[\"fields\"][\"language\"]) for x in r}')\" = \"{('/v1/audio/transcriptions', 'verbose_json', 'en')}\" ]"

ctl '{"segments_only": true}'
run v2 "$t/spool/25s.wav" "$t/verbose.ini"
expect "verbose_json without text: the segments' text" ok covers v2 200000

policy "$t/text.ini" "$B" "response_format = text"
ctl '{}'
run t1 "$t/spool/25s.wav" "$t/text.ini"
expect "text: the body as it is (LocalAI's leading newline trimmed)" ok bash -c "covers t1 200000 && [ \"\$(head -c1 '$t/out/t1.txt')\" = '[' ]"

# --- the upload limit ----------------------------------------------------------------------------
CHUNK=10m policy "$t/small.ini" "$B" $'response_format = json\nmax_upload = 120K'
ctl '{"max_bytes": 122880}'
run s1 "$t/spool/25s.wav" "$t/small.ini"
expect "max_upload: chunks split to fit, none refused" ok bash -c "[ '$(j chunks)' = 8 ] && covers s1 200000 &&
        [ \"\$(logq 'max(x[\"body_len\"] if \"body_len\" in x else int(x[\"headers\"][\"content-length\"]) for x in r) <= 122880 and all(x[\"status\"] == 200 for x in r)')\" = True ]"

ctl '{"max_bytes": 50000}'
run s2 "$t/spool/25s.wav" "$t/json.ini"
expect "413 is permanent and names the limits to lower" permanent bash -c "errmsg 'HTTP 413' && errmsg 'max_upload'"

# --- errors ----------------------------------------------------------------------------------------
ctl '{"fail_429": 1}'
start=$(date +%s%N)
run r429 "$t/spool/25s.wav" "$t/json.ini"
ms=$((($(date +%s%N) - start) / 1000000))
expect "429 with Retry-After is waited out" ok bash -c "covers r429 200000 && [ $ms -ge 1000 ]"

ctl '{"fail_500": 2}'
run r500 "$t/spool/25s.wav" "$t/json.ini"
expect "500 is retried" ok covers r500 200000

ctl '{"error": "openai"}'
run e1 "$t/spool/25s.wav" "$t/json.ini"
expect "OpenAI's error shape: permanent, with the message" permanent errmsg "Invalid file format"
ctl '{"error": "whisper"}'
run e2 "$t/spool/25s.wav" "$t/json.ini"
expect "whisper.cpp's error shape" permanent errmsg "failed to read audio data"
ctl '{"error": "detail"}'
run e3 "$t/spool/25s.wav" "$t/json.ini"
expect "speaches' error shape (404)" permanent errmsg "is not installed locally"
ctl '{"error": "text"}'
run e4 "$t/spool/25s.wav" "$t/json.ini"
expect "a plain-text 502 is retryable, with its text" retryable errmsg "upstream connect error or disconnect"

# --- the key -------------------------------------------------------------------------------------
LOGF=$t/keyed.log
policy "$t/keyed.ini" "$BK" $'response_format = json\napi_key_env = MEMGOV_TEST_OPENAI_KEY'
run k1 "$t/spool/25s.wav" "$t/keyed.ini"
expect "a configured key is sent as a Bearer token" ok bash -c "covers k1 200000 &&
        [ \"\$(logq 'all(x[\"headers\"][\"authorization\"] == \"Bearer $KEY\" for x in r)')\" = True ]"

policy "$t/nokey.ini" "$BK" "response_format = json"
run k2 "$t/spool/25s.wav" "$t/nokey.ini"
expect "a server that wants a key and gets none: 401, permanent" permanent errmsg "HTTP 401"

MEMGOV_TEST_OPENAI_KEY=wrong-$KEY run k3 "$t/spool/25s.wav" "$t/keyed.ini"
expect "a wrong key: 401, permanent, the key not shown" permanent bash -c "errmsg 'Incorrect API key' && ! grep -qF -- '$KEY' '$out' '$err'"

check "the key never appears in any output" bash -c "! grep -rqF -- '$KEY' $t/run.*"
finish
