#!/bin/bash
# SPDX-License-Identifier: MIT
# 'memgov fetch' against tests/http-server.py on 127.0.0.1 (port 0): every fault of issue 7.
# Each run must print exactly one JSON line, exit 0 or 1, never leave a partial file under the
# final name, and keep the .part only when it can be resumed.
. "$(dirname "$0")/lib.sh"

# A sanitizer report must not pass for an ordinary failure (both would exit 1).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=87"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

if ! command -v python3 >/dev/null; then
        skip "fetch tests" "python3 is not installed (the test server needs it)"
        finish
        exit
fi

t=$(mktemp -d /var/tmp/memgov-test-fetch.XXXXXX)
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        wait 2>/dev/null
        mountpoint -q "$t/small" 2>/dev/null && umount "$t/small"
        rm -rf "$t"
}
trap cleanup EXIT

server="$top_srcdir/tests/http-server.py"
# start_server NAME [ARGS…]: sets $port; the server logs to $t/NAME.log.
start_server() {
        local name=$1
        shift
        python3 "$server" --port-file "$t/$name.port" --log "$t/$name.log" "$@" 2>"$t/$name.err" &
        pids+=($!)
        for _ in $(seq 100); do
                [ -s "$t/$name.port" ] && break
                sleep 0.1
        done
        port=$(cat "$t/$name.port" 2>/dev/null)
}
start_server http
B="http://127.0.0.1:$port"
if [ -z "$port" ]; then
        fail "test server starts"
        sed 's/^/# /' "$t/http.err"
        finish
        exit
fi

mkdir -p "$t/spool"
S="$t/spool"
printf '[fetch]\nmax_file_size = 1M\n' >"$t/cap1m.ini"
printf '[fetch]\nlow_speed_limit = 1K\nlow_speed_time = 2s\n' >"$t/slow.ini"
printf '[fetch]\nmax_redirects = 3\n' >"$t/redir3.ini"
printf '[fetch]\nuser_agent = curl/7.88.1\n' >"$t/curlua.ini"
printf '[fetch]\nverify_tls = no\n' >"$t/noverify.ini"

# fetch ARGS…: runs memgov fetch; $rc, $t/out (stdout), $t/err (stderr).
fetch() {
        "$MEMGOV" fetch "$@" >"$t/out" 2>"$t/err"
        rc=$?
}
# j KEY: a field of the JSON result ("" when absent; booleans as true/false).
j() {
        python3 -c 'import json, sys
d = json.loads(open(sys.argv[1]).read())
v = d.get(sys.argv[2])
print("" if v is None else str(v).lower() if isinstance(v, bool) else v)' "$t/out" "$1" 2>/dev/null
}
# The stage contract: one JSON line, exit 0/1, no sanitizer report.
contract() {
        [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || { echo "# exit status $rc"; return 1; }
        [ "$(wc -l <"$t/out")" -eq 1 ] || { echo "# stdout is not one line"; return 1; }
        python3 -c 'import json, sys; json.loads(open(sys.argv[1]).read())' "$t/out" || return 1
        ! grep -q -e 'Sanitizer' -e 'runtime error' "$t/err"
}
# sha N QUERY: sha256 of a generated body.
sha() { python3 "$server" --dump "$1" | sha256sum | cut -d' ' -f1; }
# logq EXPR: evaluates a Python expression over the server's request records r (a list of dicts).
logq() {
        python3 -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
print(eval(sys.argv[2]))' "${LOG:-$t/http.log}" "$1"
}
# expect NAME ok|retryable|permanent [more checks]: one test point for the run just made.
expect() {
        local name=$1 want=$2 got
        shift 2
        if ! contract; then
                fail "$name: stage contract"
                sed 's/^/# /' "$t/out" "$t/err"
                return
        fi
        if [ "$(j ok)" = true ]; then got=ok; elif [ "$(j retryable)" = true ]; then got=retryable; else got=permanent; fi
        if [ "$got" = "$want" ] && { [ $# -eq 0 ] || "$@"; }; then
                ok "$name"
        else
                fail "$name (got $got)"
                sed 's/^/# /' "$t/out" "$t/err"
        fi
}
no_files() { ! ls "$S" | grep -q "^$1"; }
contains() { grep -qF -- "$1" "$t/out"; }
# The checks run in 'bash -c' and need these.
export t S server
export -f j logq sha no_files contains

# --- plain, chunked, formats --------------------------------------------------------------------
q='plain?size=300000&fmt=mp3'
fetch "$B/$q" "$S/1.audio"
expect "plain download" ok bash -c "[ '$(j sha256)' = '$(sha "$q")' ] && [ '$(j size)' = 300000 ] &&
        [ '$(j format)' = mp3 ] && [ '$(j status)' = 200 ] && cmp -s '$S/1.audio' <(python3 '$server' --dump '$q')"
check "plain download leaves no .part or .meta" bash -c "! ls '$S' | grep -q part"
ua=$(logq 'r[-1]["headers"].get("user-agent", "")')
check "User-Agent is the policy's default" bash -c "[[ '$ua' == memgov/* ]]"

q='chunked?size=300000&fmt=flac&seed=3'
fetch "$B/$q" "$S/2.audio"
expect "chunked download under the cap" ok bash -c "[ '$(j sha256)' = '$(sha "$q")' ] && [ '$(j format)' = flac ]"

for fmt in wav m4a ogg; do
        fetch "$B/plain?size=5000&fmt=$fmt" "$S/f-$fmt.audio"
        expect "format sniffed: $fmt" ok bash -c "[ '$(j format)' = $fmt ]"
done
fetch "$B/plain?size=5000" "$S/f-unknown.audio"
expect "format sniffed: unknown" ok bash -c "[ '$(j format)' = unknown ]"

# --- size cap -------------------------------------------------------------------------------------
fetch --policy "$t/cap1m.ini" "$B/chunked?size=3000000" "$S/3.audio"
expect "chunked body over the cap is refused (permanent)" permanent bash -c "grep -qF 'max_file_size' '$t/out' &&
        [ ! -e '$S/3.audio' ] && [ ! -e '$S/3.part' ]"

start=$(date +%s%N)
fetch --policy "$t/cap1m.ini" "$B/plain?size=10000000000&hold=3" "$S/4.audio"
ms=$((($(date +%s%N) - start) / 1000000))
expect "Content-Length over the cap is refused up front" permanent bash -c "grep -qF '10000000000 bytes, more than max_file_size' '$t/out'"
closed=$(logq '[x.get("client_closed_before_body", False) for x in r if "size=10000000000" in x["path"]][-1]')
sent=$(logq '[x["body_sent"] for x in r if "size=10000000000" in x["path"]][-1]')
check "no body byte was read past a Content-Length over the cap ($ms ms)" bash -c "[ '$closed' = True ] && [ '$sent' = 0 ] && [ $ms -lt 2500 ]"
check "nothing left after the refusal" no_files 4.

# --- resume ---------------------------------------------------------------------------------------
q='reset-after?bytes=60000&size=250000&fmt=mp3'
fetch "$B/$q" "$S/5.audio"
expect "connection reset mid-body is retryable" retryable bash -c "[ -s '$S/5.part' ] && [ -s '$S/5.part.meta' ] && [ ! -e '$S/5.audio' ]"
part=$(stat -c %s "$S/5.part" 2>/dev/null)
fetch "$B/$q" "$S/5.audio"
expect "second run resumes and completes" ok bash -c "[ '$(j status)' = 206 ] && [ '$(j resumed_from)' = '$part' ] &&
        [ '$(j sha256)' = '$(sha 'plain?size=250000&fmt=mp3')' ] && [ '$(j format)' = mp3 ] && [ ! -e '$S/5.part' ] && [ ! -e '$S/5.part.meta' ]"
hdrs=$(logq '(r[-1]["headers"].get("range"), r[-1]["headers"].get("if-range"))')
check "resume sent Range from the .part size and If-Range with the ETag" \
        bash -c "[ \"\$1\" = \"('bytes=$part-', '\\\"s1-250000\\\"')\" ]" _ "$hdrs"

q='lastmod?size=150000&cut=40000'
fetch "$B/$q" "$S/6.audio"
fetch "$B/$q" "$S/6.audio"
ir=$(logq 'r[-1]["headers"].get("if-range")')
expect "resume with only Last-Modified uses the date in If-Range" ok bash -c "[ '$ir' = 'Wed, 21 Oct 2015 07:28:00 GMT' ] &&
        [ '$(j status)' = 206 ] && [ '$(j sha256)' = '$(sha 'plain?size=150000')' ]"

q='range-ignored?size=200000&cut=50000'
fetch "$B/$q" "$S/7.audio"
fetch "$B/$q" "$S/7.audio"
rng=$(logq 'r[-1]["headers"].get("range")')
expect "server ignoring Range: restart from zero, whole body" ok bash -c "[ '$rng' = bytes=50000- ] && [ '$(j status)' = 200 ] &&
        [ -z '$(j resumed_from)' ] && [ '$(j size)' = 200000 ] && [ '$(j sha256)' = '$(sha 'plain?size=200000')' ]"

q='etag-changes?size=200000&cut=50000&seed=10'
fetch "$B/$q" "$S/8.audio"
fetch "$B/$q" "$S/8.audio"
ir=$(logq 'r[-1]["headers"].get("if-range")')
expect "ETag changed: If-Range fails, the new file is fetched whole" ok bash -c "[ '$ir' = '\"v0\"' ] && [ '$(j status)' = 200 ] &&
        [ '$(j sha256)' = '$(sha 'plain?size=200000&seed=11')' ]"

# 416: a .part that already holds the whole file (as a crash after the last byte leaves it).
q='416?size=120000'
python3 "$server" --dump "$q" >"$S/9.part"
printf 'memgov-fetch-meta 1\nurl %s\netag "s1-120000"\nlast-modified x\n' "$B/$q" >"$S/9.part.meta"
fetch "$B/$q" "$S/9.audio"
expect "416 with our size as the total: complete without a body" ok bash -c "[ '$(j status)' = 416 ] &&
        [ '$(j sha256)' = '$(sha "$q")' ] && [ \"\$(logq 'r[-1][\"body_sent\"]')\" = 0 ]"
# …and one longer than the file (it shrank): start over.
head -c 130000 /dev/urandom >"$S/10.part"
printf 'memgov-fetch-meta 1\nurl %s\netag "s1-120000"\nlast-modified x\n' "$B/$q" >"$S/10.part.meta"
fetch "$B/$q" "$S/10.audio"
st=$(logq '[x["status"] for x in r[-2:]]')
expect "416 with another total: restart from zero" ok bash -c "[ \"\$1\" = '[416, 200]' ] && [ '$(j sha256)' = '$(sha "$q")' ]" _ "$st"

# A .meta for another URL is not trusted.
head -c 5000 /dev/urandom >"$S/11.part"
printf 'memgov-fetch-meta 1\nurl http://elsewhere/x\netag "s1-120000"\n' >"$S/11.part.meta"
fetch "$B/$q" "$S/11.audio"
expect "a .part of another URL is discarded, not resumed" ok bash -c "[ -z '$(j resumed_from)' ] && [ '$(j sha256)' = '$(sha "$q")' ] &&
        [ -z \"\$(logq 'r[-1][\"headers\"].get(\"range\", \"\")')\" ]"

# --- redirects --------------------------------------------------------------------------------------
fetch "$B/redirect?n=4&size=7000&fmt=ogg" "$S/12.audio"
expect "redirect chain of 4" ok bash -c "[ '$(j redirects)' = 4 ] && [[ '$(j url)' == */plain\?* ]] && [ '$(j format)' = ogg ]"
fetch --policy "$t/redir3.ini" "$B/redirect?n=4&size=7000" "$S/13.audio"
expect "4 redirects with max_redirects = 3 are refused" permanent contains "max_redirects (3)"
fetch "$B/loop" "$S/14.audio"
expect "redirect loop is refused" permanent bash -c "grep -qF 'max_redirects (10)' '$t/out' && [ ! -e '$S/14.part' ]"
fetch "$B/redirect-to?url=file:///etc/passwd" "$S/15.audio"
expect "redirect to file:// is refused" permanent bash -c "grep -qF 'forbidden protocol' '$t/out' && [ ! -e '$S/15.audio' ] && ! grep -q root: '$S'/* 2>/dev/null"
fetch "$B/redirect-to?url=ftp://127.0.0.1:$port/x" "$S/16.audio"
expect "redirect to ftp:// is refused" permanent contains "forbidden protocol"
fetch "file:///etc/passwd" "$S/17.audio"
expect "a file:// URL is refused" permanent contains "protocol 'file' is not allowed"

# Credentials in the URL reach its own host only (127.0.0.1 and localhost are different hosts).
fetch "http://user:s3cr3t@127.0.0.1:$port/redirect-to?url=http://localhost:$port/plain%3Fsize%3D1000" "$S/18.audio"
auth=$(logq '[("authorization" in x["headers"], x["headers"]["host"].split(":")[0]) for x in r[-2:]]')
expect "no Authorization header crosses hosts on a redirect" ok \
        bash -c "[ \"\$1\" = \"[(True, '127.0.0.1'), (False, 'localhost')]\" ]" _ "$auth"
check "credentials are not printed" bash -c "! grep -q s3cr3t '$t/out' '$t/err'"

# --- timeouts, status codes, truncation -------------------------------------------------------------
start=$(date +%s)
fetch --policy "$t/slow.ini" "$B/slow?rate=200&size=100000" "$S/19.audio"
secs=$(($(date +%s) - start))
expect "slow drip below low_speed_limit is aborted ($secs s)" retryable bash -c "grep -qi 'too slow' '$t/out' && [ $secs -lt 15 ] && [ ! -e '$S/19.audio' ]"

fetch "$B/needs-ua?size=5000" "$S/20.audio"
expect "a host that wants a real User-Agent accepts memgov's" ok
if command -v curl >/dev/null; then
        code=$(curl -s -o /dev/null -w '%{http_code}' -H 'User-Agent:' "$B/needs-ua")
        check "…which answers 403 without a User-Agent" [ "$code" = 403 ]
else
        skip "403 without a User-Agent" "curl is not installed"
fi
fetch --policy "$t/curlua.ini" "$B/needs-ua?size=5000" "$S/21.audio"
expect "403 for a curl-like User-Agent is permanent" permanent bash -c "[ '$(j status)' = 403 ] && [ ! -e '$S/21.part' ]"

fetch "$B/404" "$S/22.audio"
expect "404 is permanent" permanent bash -c "[ '$(j status)' = 404 ] && grep -qF '$B/404: server answered HTTP 404' '$t/out' && no_files 22."
fetch "$B/410" "$S/23.audio"
expect "410 is permanent" permanent bash -c "[ '$(j status)' = 410 ]"
fetch "$B/503?retry-after=7" "$S/24.audio"
expect "503 with Retry-After is retryable and reports it" retryable bash -c "[ '$(j retry_after)' = 7 ] && [ '$(j status)' = 503 ] && no_files 24."
fetch "$B/429?retry-after=120" "$S/25.audio"
expect "429 with Retry-After is retryable and reports it" retryable bash -c "[ '$(j retry_after)' = 120 ]"
fetch "$B/status?code=500" "$S/26.audio"
expect "500 is retryable" retryable
fetch "$B/truncated?size=100000&sent=30000" "$S/27.audio"
expect "truncated body is retryable, and not resumable without a validator" retryable bash -c "grep -qF 'ended early' '$t/out' && no_files 27."
fetch "http://127.0.0.1:1/x.mp3" "$S/28.audio"
expect "connection refused is retryable" retryable

# --- concurrency, progress, page cache ----------------------------------------------------------------
"$MEMGOV" fetch --policy "$t/slow.ini" "$B/etag?size=200000&rate=50000" "$S/29.audio" >"$t/bg.out" 2>&1 &
bg=$!
sleep 1
fetch "$B/etag?size=200000" "$S/29.audio"
expect "a second fetch of the same episode does not touch the running one" retryable contains "another fetch is writing 29.part"
wait $bg
check "…which completes" bash -c "grep -q '\"ok\":true' '$t/bg.out' && [ \"\$(stat -c %s '$S/29.audio')\" = 200000 ]"

fetch --progress "$B/slow?rate=400000&size=1000000" "$S/30.audio"
expect "--progress reports on stderr only" ok bash -c "[ \"\$(grep -c '^fetch: .* / ' '$t/err')\" -ge 2 ]"

if command -v fincore >/dev/null; then
        fetch "$B/plain?size=33554432" "$S/31.audio"
        cached=$(fincore -bno RES "$S/31.audio" 2>/dev/null | tr -d ' ')
        fetch --keep-cache "$B/plain?size=33554432&seed=2" "$S/32.audio"
        kept=$(fincore -bno RES "$S/32.audio" 2>/dev/null | tr -d ' ')
        check "page cache left by a 32 MiB download: $cached bytes dropped vs $kept kept" \
                bash -c "[ -n '$cached' ] && [ '$cached' -lt 4194304 ] && [ '$kept' -gt 16777216 ]"
else
        skip "page cache is dropped" "fincore (util-linux) is not installed"
fi

# --- TLS --------------------------------------------------------------------------------------------
if command -v openssl >/dev/null &&
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$t/key.pem" -out "$t/cert.pem" -days 1 \
                -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1; then
        start_server https --tls-cert "$t/cert.pem" --tls-key "$t/key.pem"
        fetch "https://127.0.0.1:$port/plain?size=5000" "$S/33.audio"
        expect "a self-signed certificate is refused" permanent bash -c "grep -qi certificate '$t/out' && no_files 33."
        fetch --policy "$t/noverify.ini" "https://127.0.0.1:$port/plain?size=5000" "$S/33.audio"
        expect "verify_tls = no accepts it" ok bash -c "[ '$(j size)' = 5000 ]"
else
        skip "TLS verification" "openssl cannot make a test certificate"
fi

# --- disk full --------------------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
        skip "disk full" "mounting a 1 MiB tmpfs needs root"
elif ! { mkdir -p "$t/small" && mount -t tmpfs -o size=1m memgov-test "$t/small"; } 2>/dev/null; then
        skip "disk full" "cannot mount a tmpfs here"
else
        fetch "$B/plain?size=4000000" "$t/small/34.audio"
        expect "disk full, known up front: refused before the body (retryable)" retryable bash -c "grep -qF 'disk full' '$t/out' &&
                [ -z \"\$(ls -A '$t/small')\" ]"
        fetch "$B/chunked?size=4000000" "$t/small/35.audio"
        expect "disk full while writing: stopped, space given back (retryable)" retryable bash -c "grep -qF 'disk full' '$t/out' &&
                [ -z \"\$(ls -A '$t/small')\" ]"
        fetch "$B/plain?size=300000" "$t/small/36.audio"
        expect "…and a file that fits still does" ok
        umount "$t/small"
fi

# --- command line -----------------------------------------------------------------------------------
"$MEMGOV" fetch "$B/plain" >/dev/null 2>&1
check "fetch without OUT is a usage error" [ $? -eq 2 ]
"$MEMGOV" fetch "$B/plain" "$S/" >/dev/null 2>&1
check "OUT naming a folder is a usage error" [ $? -eq 2 ]
"$MEMGOV" fetch --help | grep -q 'Usage: memgov fetch'
check "fetch --help" [ $? -eq 0 ]
printf '[fetch]\nmax_file_size = lots\n' >"$t/bad.ini"
fetch --policy "$t/bad.ini" "$B/plain" "$S/37.audio"
expect "a bad policy fails with its error" permanent bash -c "grep -qF 'max_file_size = lots' '$t/err'"
fetch "$B/plain?size=1000" "$t/missing-dir/38.audio"
expect "a missing output folder fails" permanent contains "cannot open the output folder"

check "no final file is ever partial" bash -c "for f in '$S'/*.audio; do s=\$(stat -c %s \"\$f\"); [ \"\$s\" -gt 0 ] || exit 1; done"
finish
