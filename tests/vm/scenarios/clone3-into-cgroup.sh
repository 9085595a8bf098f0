#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-timeout: 60
#
# clone3(CLONE_INTO_CGROUP) creates a child directly in a fresh stage cgroup: the child is a
# member before it runs a single instruction of its own (so no byte is charged elsewhere),
# both /proc/PID/cgroup and the cgroup's cgroup.procs say so, and memory.peak of the new
# cgroup shows its memory was charged there. Inner cgroups with controllers enabled must
# refuse it (EBUSY): that negative case shows the helper reports kernel errors, not success.
. /vm/lib.sh

delegate
new_cgroup jobs
echo "+memory +pids" >"$SVC/jobs/cgroup.subtree_control" || fail "cannot enable +memory +pids in jobs/"
new_cgroup jobs/ep1.fetch.1 memory.max=64M memory.swap.max=0 memory.oom.group=1 pids.max=16
cg=$SVC/jobs/ep1.fetch.1
rel=${cg#/sys/fs/cgroup}

# The child prints its own view; cgexec prints the parent's view while the child is held.
out=$("$VM_BIN/cgexec" --clone3 --check "$cg" /bin/sh -c 'echo "self $(grep ^0:: /proc/self/cgroup)"')
rc=$?
echo "$out"
pid=$(echo "$out" | sed -n 's/^pid //p')
[ $rc -eq 0 ] || fail "cgexec --clone3 failed (exit $rc): $out"
echo "$out" | grep -qx "cgroup 0::$rel" || fail "parent sees the child in '$(echo "$out" | grep ^cgroup)', wanted 0::$rel"
echo "$out" | grep -qx "procs $pid" || fail "cgroup.procs of $rel is '$(echo "$out" | grep ^procs)', wanted only $pid"
echo "$out" | grep -qx "self 0::$rel" || fail "the child sees itself in '$(echo "$out" | grep ^self)', wanted 0::$rel"
echo "$out" | grep -qx "status exited 0" || fail "the child did not exit 0"

grep -qx "0::${SVC#/sys/fs/cgroup}/supervisor" /proc/$$/cgroup || fail "the parent moved: $(cat /proc/$$/cgroup)"
peak=$(cat "$cg/memory.peak" 2>/dev/null || echo 0)
[ "$peak" -gt 0 ] || fail "memory.peak of $rel is '$peak': the child's memory was not charged there"
diag "child $pid started in $rel (memory.peak $peak bytes)"

# Negative control: jobs/ has domain controllers in subtree_control, so no process may join it.
out=$("$VM_BIN/cgexec" --clone3 "$SVC/jobs" /bin/true 2>&1)
rc=$?
if [ $rc -ne 125 ] || ! echo "$out" | grep -q "busy"; then
        fail "clone3 into jobs/ (an inner cgroup with controllers) should fail with EBUSY, got exit $rc: $out"
fi
exit 0
