#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 512
# vm-timeout: 150
#
# Spawn: memgov vs bare fork+exec vs cgexec (libcgroup tools) in the same VM run.
#
# bench/spawn-bench times each path N times, interleaved, on a real cgroup v2 kernel: bare
# fork+exec, memgov's clone3 into a fresh cgroup with the sandbox, its fork fallback, the
# sandbox alone, and libcgroup's cgexec moving itself into a fresh cgroup. The clock stops
# when the child has exited after exec'ing /bin/true (busybox, static): cgexec's own exec of
# /bin/true cannot be seen from outside, so every mode gets the end point cgexec allows (see
# the header of bench/spawn-bench.c). Only the ratios mean anything (TCG emulation): the
# scenario fails when a path fails, never on a time.
#
# libcgroup's cgexec must be packed away from /vm/bin/cgexec, which is our own helper:
#   --pack /usr/bin/cgexec=/usr/lib/cgroup-tools/cgexec
. /vm/lib.sh
set -u

N=${SPAWN_N:-100}
CGEXEC=/usr/lib/cgroup-tools/cgexec

[ -x "$VM_BIN/spawn-bench" ] || skip "no bench/spawn-bench in the build tree"
[ -x "$CGEXEC" ] || skip "libcgroup's cgexec is not packed (--pack /usr/bin/cgexec=$CGEXEC)"
delegate

# cgexec on its own first, so a libcgroup problem in this guest (no /proc/mounts, no v2 support)
# shows as itself and not as a failed bench.
rel=${SVC#/sys/fs/cgroup/}
new_cgroup cgexec-check
out=$("$CGEXEC" -g "memory,pids:$rel/cgexec-check" /bin/cat /proc/self/cgroup 2>&1)
rc=$?
rmdir "$SVC/cgexec-check" 2>/dev/null
[ $rc -eq 0 ] || fail "libcgroup's cgexec failed (exit $rc): $(echo "$out" | tr '\n' ' ')"
[ "$out" = "0::/$rel/cgexec-check" ] || fail "cgexec did not move the process into $rel/cgexec-check: $out"

"$VM_BIN/spawn-bench" -n "$N" -u nobody -c "$SVC" -g "$CGEXEC" -r /tmp/spawn-raw.tsv -m /tmp/spawn-table.md \
        >/tmp/spawn.out 2>&1
rc=$?
cat /tmp/spawn.out
[ $rc -eq 0 ] || fail "spawn-bench failed (exit $rc): $(tail -n 3 /tmp/spawn.out | tr '\n' ' ')"
grep -q 'without cgroups\|cgroups: none' /tmp/spawn.out && fail "the bench did not use cgroups: $(head -n 1 /tmp/spawn.out)"
grep -q '+memory +pids in each' /tmp/spawn.out || fail "the bench's cgroups have no memory controller: $(head -n 1 /tmp/spawn.out)"
[ "$(grep -c "^|" /tmp/spawn-table.md)" -eq 7 ] || fail "the bench wrote no complete table"

{
        echo "## Spawn"
        echo
        echo "Fresh cgroup (with +memory +pids) and a start of \`/bin/true\` (busybox, static), $N times per"
        echo "mode, interleaved, in one boot of a 2-vCPU TCG VM (kernel $(uname -r)); only the ratios mean"
        echo "anything. The clock runs from just before the cgroup's mkdir (the fork for bare) until the"
        echo "child has exited and been reaped: libcgroup's \`cgexec\` execs \`/bin/true\` itself, after it has"
        echo "moved itself, so this is the one end point that is the same for every mode. memgov's paths"
        echo "also drop to \`nobody\`, set rlimits and load the seccomp filter; \`cgexec\` runs it as root"
        echo "without a sandbox. \"sandbox, no cgroup\" is memgov's clone3 with the sandbox but no cgroup."
        echo
        cat /tmp/spawn-table.md
        echo
        echo "Raw samples: \`spawn/spawn-raw.tsv\` (i, mode, ms)."
} >/tmp/spawn.md
cat /tmp/spawn.md
vm_save /tmp/spawn.md spawn.md
vm_save /tmp/spawn-raw.tsv spawn-raw.tsv
vm_save /tmp/spawn.out spawn-bench.out
diag "$(grep -E '^ratio' /tmp/spawn.out | tr '\n' ';' | tr -s ' ')"
exit 0
