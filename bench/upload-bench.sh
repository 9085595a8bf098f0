#!/bin/bash
# SPDX-License-Identifier: MIT
# The transcribe stage's memory while uploading: peak RSS of 'memgov transcribe' sending a 10 MB
# and a 500 MB episode to tests/mock-gemini.py on 127.0.0.1 (resumable upload in 8 MiB pieces
# streamed from disk), side by side in the same run; expected: flat, the ratio near 1. The
# OpenAI-compatible backend (multipart streamed by libcurl) is measured on 10 MB and 100 MB
# episodes, split into 25 MB chunks. Not part of 'make check'.
#
#   MEMGOV=build/memgov bench/upload-bench.sh [SIZE…]      (bytes; default 10000000 500000000)
#
# The episodes are sparse WAV files (a header, then zeros): the mock's accept_any mode skips
# the audio, so only the transport is measured. Use a build without --enable-sanitizers (ASan's
# shadow memory would dominate the RSS). BENCH_DIR (default /var/tmp) must have room for the
# chunk files of the OpenAI runs (25 MB each, one at a time).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
MEMGOV=${MEMGOV:-$PWD/memgov}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000000 500000000)

for tool in python3 /usr/bin/time; do
        command -v "$tool" >/dev/null || { echo "upload-bench: $tool is needed (apt-get install python3 time)" >&2; exit 1; }
done
[ -x "$MEMGOV" ] || { echo "upload-bench: set MEMGOV to a built memgov binary" >&2; exit 1; }
if nm -D "$MEMGOV" 2>/dev/null | grep -q __asan_init; then
        echo "upload-bench: warning: $MEMGOV is built with sanitizers; its RSS is mostly shadow memory" >&2
fi

t=$(mktemp -d "${BENCH_DIR:-/var/tmp}/memgov-upload-bench.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$t"' EXIT
mkdir -p "$t/out" "$t/store"
key="bench-key-$RANDOM$RANDOM"
printf '%s\n' "$key" >"$t/key"
chmod 600 "$t/key"

python3 "$top_srcdir/tests/mock-gemini.py" --log /dev/null --key "$key" --dir "$t/store" >"$t/g.port" &
pids+=($!)
python3 "$top_srcdir/tests/mock-openai.py" --log /dev/null >"$t/o.port" &
pids+=($!)
for _ in $(seq 100); do [ -s "$t/g.port" ] && [ -s "$t/o.port" ] && break; sleep 0.1; done
gport=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["port"])' "$t/g.port")
oport=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["port"])' "$t/o.port")
python3 -c 'import sys, urllib.request
for url, cfg in (("http://127.0.0.1:%s/_control" % sys.argv[1], b"{\"accept_any\": true}"),
                 ("http://127.0.0.1:%s/_control" % sys.argv[2], b"{\"max_bytes\": 30000000}")):
    urllib.request.urlopen(urllib.request.Request(url, data=cfg, method="POST")).read()' "$gport" "$oport"

printf '[transcribe]\nbackend = gemini\nchunk_duration = 1d\n[command]\nprepare =\n[gemini]\nendpoint = http://127.0.0.1:%s\napi_key_file = %s\npoll_interval = 100ms\n' \
        "$gport" "$t/key" >"$t/gemini.ini"
printf '[transcribe]\nbackend = openai\nchunk_duration = 1d\n[command]\nprepare =\n[openai]\nendpoint = http://127.0.0.1:%s\nmax_upload = 25M\n' \
        "$oport" >"$t/openai.ini"

# episode SIZE: a sparse WAV of SIZE bytes, 8 kHz mono 16 bit (500 MB is 8.7 hours).
episode() {
        python3 - "$t/ep-$1.wav" "$1" <<'EOF'
import os, struct, sys
path, size = sys.argv[1], int(sys.argv[2])
data = (size - 44) & ~1
with open(path, "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16))
    f.write(b"data" + struct.pack("<I", data))
os.truncate(path, 44 + data)
EOF
}

# measure POLICY SIZE: "peak_rss_kib seconds chunks"
measure() {
        local id="b$RANDOM"
        /usr/bin/time -f '%M %e' -o "$t/time" "$MEMGOV" transcribe -p "$1" --id "$id" --audio "$t/ep-$2.wav" \
                --out-dir "$t/out" >"$t/res" 2>"$t/err" || { echo "upload-bench: failed:" >&2; cat "$t/res" "$t/err" >&2; }
        read -r rss secs <"$t/time"
        echo "$rss $secs $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("chunks", "-"))' "$t/res")"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? b / s / 1e6 : 0) }'; }

printf '%-8s %-11s %7s %11s %8s %7s\n' backend size chunks "peak RSS" seconds "MB/s"
declare -A rss_of
for backend in gemini openai; do
        for size in "${sizes[@]}"; do
                # The mock reads each multipart body into memory: the OpenAI rows stop at 100 MB.
                [ "$backend" = openai ] && [ "$size" -gt 100000000 ] && size=100000000
                [ -n "${rss_of[$backend.$size]:-}" ] && continue
                episode "$size"
                read -r rss secs chunks < <(measure "$t/$backend.ini" "$size")
                rss_of[$backend.$size]=$rss
                printf '%-8s %-11s %7s %7s MiB %8s %7s\n' "$backend" "$size" "$chunks" "$(mib "$rss")" "$secs" \
                        "$(mbps "$size" "$secs")"
                rm -f "$t/ep-$size.wav"
        done
done
small=${sizes[0]}
large=${sizes[${#sizes[@]} - 1]}
awk -v a="${rss_of[gemini.$small]}" -v b="${rss_of[gemini.$large]}" -v s="$small" -v l="$large" \
        'BEGIN { printf "gemini: peak RSS at %s bytes / at %s bytes = %.2f (flat = 1.00)\n", l, s, b / a }'
