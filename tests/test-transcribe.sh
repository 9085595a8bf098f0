#!/bin/bash
# SPDX-License-Identifier: MIT
# 'memgov transcribe' with the command backend (tests/fake-transcriber) on spoken episodes made
# by examples/make-episodes (espeak-ng, lame, sox): MP3 and WAV split without decoding into
# valid files that together hold every frame, transcript from stdout or from {out}, a failing
# command, [command] prepare, a clean environment, the outputs and the work folder.
. "$(dirname "$0")/lib.sh"

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=87"

if ! command -v python3 >/dev/null; then
        skip "command backend tests" "python3 is not installed (tests/fake-transcriber needs it)"
        finish
        exit
fi

t=$(mktemp -d /var/tmp/memgov-test-transcribe.XXXXXX)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/out" "$t/spool"
fake=$top_srcdir/tests/fake-transcriber

# The episodes. make-episodes installs espeak-ng, lame and sox when root; without them (and not
# root) the tests that need real encoder output are skipped, the others still run.
if "$top_srcdir/examples/make-episodes" --out "$t/spool" --seconds 25 >"$t/make.out" 2>&1; then
        have_audio=yes
        lame --quiet -V 6 "$t/spool/ep-25s.wav" "$t/spool/vbr.mp3" # VBR: a Xing frame first
        sox "$t/spool/ep-25s.wav" "$t/spool/ep.flac"
else
        have_audio=no
        why=$(tail -1 "$t/make.out")
fi
# A small WAV made here (no tools needed): 12 s of 8 kHz mono.
python3 - "$t/spool/small.wav" <<'EOF'
import struct, sys
n = 12 * 8000
with open(sys.argv[1], "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", 36 + 2 * n) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16))
    f.write(b"data" + struct.pack("<I", 2 * n) + bytes(2 * n))
EOF

policy() { # policy FILE ARGV [MORE [command] LINES]
        printf '[transcribe]\nbackend = command\nchunk_duration = %s\n[command]\nargv = %s\n%s\n' \
                "${CHUNK:-10s}" "$2" "${3:-prepare =}" >"$1"
}
policy "$t/stdout.ini" "$fake {audio}"

n_run=0
run() { # run ID AUDIO POLICY [--workdir DIR]
        n_run=$((n_run + 1))
        out=$t/run.$n_run.out err=$t/run.$n_run.err
        "$MEMGOV" transcribe -p "$3" --id "$1" --audio "$2" --out-dir "$t/out" "${@:4}" >"$out" 2>"$err"
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
# frames ID KIND TOTAL MAXSEC: each transcript line is "KIND N frames S s" from a chunk the fake
# transcriber found valid, no chunk is longer than MAXSEC, and the frames add up to TOTAL.
frames() {
        python3 - "$t/out/$1.txt" "$2" "$3" "$4" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
total = 0
for l in lines:
    m = re.fullmatch(r"%s (\d+) frames ([\d.]+) s" % sys.argv[2], l)
    if not m or float(m.group(2)) > float(sys.argv[4]):
        print("# unexpected line %r" % l); sys.exit(1)
    total += int(m.group(1))
if total != int(sys.argv[3]):
    print("# %d frames in all, expected %s" % (total, sys.argv[3])); sys.exit(1)
EOF
}
errmsg() { grep -qF -- "$1" "$out"; }
no_outputs() { [ ! -e "$t/out/$1.txt" ] && [ ! -e "$t/out/$1.json" ]; }
export -f frames errmsg no_outputs
export t out

# --- splitting real encoder output -----------------------------------------------------------------
if [ $have_audio = yes ]; then
        # The whole episode's frames, from the fake transcriber itself (it reads tags too).
        mp3_total=$("$fake" "$t/spool/ep-25s.mp3" | awk '{print $2}')
        run mp3 "$t/spool/ep-25s.mp3" "$t/stdout.ini"
        expect "MP3 (ID3 tags): 3 chunks of valid frames, none lost" ok bash -c \
                "[ '$(j chunks)' = 3 ] && frames mp3 mp3 $((mp3_total - 1)) 10"
        check "<id>.json: source, sizes, sha256, chunk offsets" python3 -c '
import hashlib, json, sys
d = json.load(open(sys.argv[1]))
data = open(sys.argv[2], "rb").read()
s = d["source"]
assert s["size"] == len(data) and s["sha256"] == hashlib.sha256(data).hexdigest() and s["format"] == "mp3"
c = d["chunks"]
assert c[0]["offset"] > 0 and data[c[0]["offset"]] == 0xFF  # after the ID3v2 tag and the Info frame
assert all(a["offset"] + a["length"] == b["offset"] for a, b in zip(c, c[1:]))
assert c[-1]["offset"] + c[-1]["length"] == len(data) - 128  # the ID3v1 tag is left out
assert d["backend"] == "command" and d["chars"] > 0 and s["prepared"] is None' "$t/out/mp3.json" "$t/spool/ep-25s.mp3"

        vbr_total=$("$fake" "$t/spool/vbr.mp3" | awk '{print $2}')
        run vbr "$t/spool/vbr.mp3" "$t/stdout.ini"
        expect "VBR MP3: the Xing frame is left out of every chunk" ok frames vbr mp3 $((vbr_total - 1)) 10

        run wav "$t/spool/ep-25s.wav" "$t/stdout.ini"
        expect "WAV: 3 chunks with rewritten headers, every sample frame once" ok bash -c \
                "[ '$(j chunks)' = 3 ] && frames wav wav 551250 10"

        # [command] prepare converts first (here: to 16 kHz WAV), whatever the format.
        policy "$t/prepare.ini" "$fake {audio}" "prepare = sox {audio} -r 16000 -c 1 -b 16 {prepared}"
        run prep "$t/spool/ep.flac" "$t/prepare.ini"
        expect "FLAC through [command] prepare: 16 kHz WAV chunks" ok bash -c "frames prep wav 400000 10 &&
                python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d[\"source\"][\"format\"] == \"flac\" and d[\"source\"][\"prepared\"][\"format\"] == \"wav\"' '$t/out/prep.json'"

        policy "$t/badprep.ini" "$fake {audio}" "prepare = sox {audio} -t nonsense {prepared}"
        run badprep "$t/spool/ep.flac" "$t/badprep.ini"
        expect "a failing prepare is permanent, with sox's complaint" permanent bash -c "errmsg 'prepare: sox exited with status' && no_outputs badprep"
else
        for n in "MP3 split" "JSON metadata" "VBR MP3" "WAV split" "prepare" "failing prepare"; do
                skip "$n" "no espeak-ng/lame/sox: $why"
        done
fi

# --- the command's output --------------------------------------------------------------------------
CHUNK=1m policy "$t/one.ini" "$fake --words --env {audio}"
SECRET_FOR_TEST=do-not-leak run one "$t/spool/small.wav" "$t/one.ini"
expect "one chunk: the episode itself is passed, nothing copied" ok bash -c "[ '$(j chunks)' = 1 ] &&
        grep -qx 'wav 96000 frames 12.000 s' '$t/out/one.txt' && grep -qx 'the quick brown fox' '$t/out/one.txt'"
# (A python3 that is a pyenv shim adds its own variables: only memgov's side is checked.)
check "the command gets a clean environment: PATH, HOME (the work folder), LANG, TMPDIR" python3 -c '
import sys
lines = open(sys.argv[1]).read().splitlines()
env = set(next(l for l in lines if l.startswith("env ")).split()[1:])
assert {"PATH", "HOME", "LANG", "TMPDIR"} <= env, env
assert not env & {"SECRET_FOR_TEST", "MEMGOV", "top_srcdir", "ASAN_OPTIONS", "USER", "TERM"}, env
assert "home " + sys.argv[2] in lines' "$t/out/one.txt" "$t/spool/one.work"
check "the transcript ends with one newline; <id>.json parses" bash -c \
        "[ \"\$(tail -c1 '$t/out/one.txt' | od -An -c | tr -d ' ')\" = '\\n' ] && python3 -m json.tool '$t/out/one.json' >/dev/null"

policy "$t/file.ini" "$fake {audio} --out {out}" $'prepare =\noutput = file'
run file "$t/spool/small.wav" "$t/file.ini"
expect "output = file: the transcript is read from {out}" ok bash -c "[ '$(j chunks)' = 2 ] && frames file wav 96000 10"

policy "$t/filetxt.ini" "$fake {audio} --out-txt {out}" $'prepare =\noutput = file'
run filetxt "$t/spool/small.wav" "$t/filetxt.ini"
expect "output = file: {out}.txt (whisper-cli -otxt -of) is found too" ok frames filetxt wav 96000 10

# Names {out} (as output = file requires) but writes to standard output instead.
policy "$t/nofile.ini" '/bin/sh -c "echo hi" sh {out} {audio}' $'prepare =\noutput = file'
run nofile "$t/spool/small.wav" "$t/nofile.ini"
expect "output = file but nothing written to {out}: permanent" permanent bash -c "errmsg 'wrote no transcript' && no_outputs nofile"

# --- failures --------------------------------------------------------------------------------------
policy "$t/fail3.ini" "$fake --fail 3 {audio}"
run fail3 "$t/spool/small.wav" "$t/fail3.ini"
expect "exit status 3: permanent, with the end of stderr" permanent bash -c \
        "errmsg 'exited with status 3' && errmsg 'error: cannot decode' && no_outputs fail3"
policy "$t/fail75.ini" "$fake --fail 75 {audio}"
run fail75 "$t/spool/small.wav" "$t/fail75.ini"
expect "exit status 75 (EX_TEMPFAIL): retryable" retryable no_outputs fail75
policy "$t/killed.ini" '/bin/sh -c "kill -9 $$" sh {audio}'
run killed "$t/spool/small.wav" "$t/killed.ini"
expect "killed by a signal (the OOM killer, a timeout): retryable" retryable errmsg "signal 9"
policy "$t/missing.ini" "memgov-no-such-transcriber {audio}"
run missing "$t/spool/small.wav" "$t/missing.ini"
expect "a transcriber that is not installed: permanent, named" permanent errmsg "'memgov-no-such-transcriber' not found"

printf 'OggS\0\2 not really audio' >"$t/spool/ep.ogg"
run ogg "$t/spool/ep.ogg" "$t/stdout.ini"
expect "Ogg without prepare: permanent, naming the format and the fix" permanent bash -c "errmsg 'is ogg audio' && errmsg prepare"
run gone "$t/spool/nothing-here.mp3" "$t/stdout.ini"
expect "a missing audio file: permanent" permanent errmsg "nothing-here.mp3"

"$MEMGOV" transcribe -p "$t/stdout.ini" --id '../x' --audio "$t/spool/small.wav" --out-dir "$t/out" >"$t/usage.out" 2>&1
check "a bad episode id is a usage error (exit 2)" [ $? -eq 2 ]

# --- the work folder and the outputs ---------------------------------------------------------------
mkdir -p "$t/mywork"
touch "$t/mywork/keep-me"
run wd "$t/spool/small.wav" "$t/stdout.ini" --workdir "$t/mywork"
expect "--workdir: used, and left in place without the stage's files" ok bash -c \
        "[ \"\$(ls -A '$t/mywork')\" = keep-me ]"
check "default work folders are removed" bash -c "! ls '$t/spool' | grep -q '\\.work$'"
check "no temporary files are left in the output folder" bash -c "! ls -A '$t/out' | grep -v -e '\\.txt$' -e '\\.json$'"
finish
