# SPDX-License-Identifier: MIT
# Shared by the batch tests (crash-test.sh, test-poison.sh): a temp folder with small valid WAV
# episodes served over loopback HTTP, a stand-in transcriber, a policy and a manifest.
#   batch_setup NAME EPISODES  sets t (the folder), port, and writes $t/policy.ini, $t/manifest.jsonl
# The transcriber takes 0.3 s per episode; an episode whose file name starts with "poison" instead
# allocates memory without end (the poison episode of the incident), one with "slow" takes 60 s.
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed for the HTTP server and the checks"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (stages run as nobody)"; exit 0; }

srv=
run=
batch_cleanup() {
        [ -n "$srv" ] && kill "$srv" 2>/dev/null
        [ -n "$run" ] && kill -9 "$run" 2>/dev/null
        [ -n "$t" ] && rm -rf "$t"
}
trap batch_cleanup EXIT

batch_setup() {
        local name=$1 episodes=$2 i
        t=$(mktemp -d "/tmp/memgov-$name.XXXXXX")
        chmod 755 "$t"
        # Stages run as nobody and start this binary: the build tree may sit in a folder nobody
        # cannot enter (a mktemp clone is 0700), so they get a copy in the test's own folder.
        cp "$MEMGOV" "$t/memgov"
        MEMGOV=$t/memgov
        mkdir -p "$t/www"
        python3 - "$t/www" "$episodes" <<'PY'
import struct, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    data = bytes(4000 + 2 * i)
    hdr = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", len(data))
    for name in (f"ep{i:02d}.wav", f"poison{i:02d}.wav", f"slow{i:02d}.wav"):
        open(f"{d}/{name}", "wb").write(hdr + data)
PY
        python3 -m http.server --bind 127.0.0.1 0 --directory "$t/www" >"$t/http.log" 2>&1 &
        srv=$!
        port=
        for i in $(seq 50); do
                port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$t/http.log" | head -n 1)
                [ -n "$port" ] && break
                sleep 0.1
        done
        [ -n "$port" ] || { echo "1..0 # SKIP the HTTP server did not start"; exit 0; }
        cat >"$t/transcriber.sh" <<'EOF2'
#!/bin/sh
case $(basename "$1") in
poison*) exec /usr/bin/python3 -c 'b = bytearray(1 << 30)' ;;
slow*) exec sleep 60 ;;
esac
sleep 0.3
echo "transcript of $(basename "$1")"
EOF2
        chmod 755 "$t/transcriber.sh"
        cat >"$t/policy.ini" <<EOF2
[memory]
budget = 1G
headroom = 64M
job_min = 32M
job_max = 256M
[class.transcribe]
estimate = 128M
[class.download]
max_concurrent = 2
[pressure]
sample_interval = 100ms
[command]
argv = /bin/sh $t/transcriber.sh {audio}
prepare =
[sandbox]
user = nobody
[paths]
state_dir = $t/state
socket = $t/control.sock
[retry]
backoff_min = 100ms
backoff_max = 500ms
EOF2
        for i in $(seq 0 $((episodes - 1))); do
                printf '{"id":"ep%02d","url":"http://127.0.0.1:%s/ep%02d.wav"}\n' "$i" "$port" "$i"
        done >"$t/manifest.jsonl"
}
