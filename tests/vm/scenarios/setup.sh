#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 512
# vm-timeout: 60
#
# 'memgov setup' on a host without systemd: creates a parent cgroup below the root with memory
# and pids, owned by the service user (libcgroup does the work; memgov checks the result), and
# memgov started inside it as that user reports cgroup mode.
. /vm/lib.sh

[ -n "$MEMGOV" ] || skip "no memgov binary in the initramfs (build it first)"
CG=/sys/fs/cgroup
P=memgov-setup-test

out=$("$MEMGOV" setup --parent "$P" --user memgov 2>&1) || fail "memgov setup failed: $out"
echo "$out"
[ -d "$CG/$P" ] || fail "setup reported success but $CG/$P does not exist"
grep -qw memory "$CG/$P/cgroup.controllers" || fail "memory not offered in $P: $(cat "$CG/$P/cgroup.controllers")"
grep -qw pids "$CG/$P/cgroup.controllers" || fail "pids not offered in $P"
for f in . cgroup.procs cgroup.subtree_control; do
        owner=$(stat -c %u:%g "$CG/$P/$f")
        [ "$owner" = 999:999 ] || fail "$P/$f belongs to $owner, not memgov (999:999)"
done
# A bad name and a missing user are refused before anything is created.
"$MEMGOV" setup --parent ../etc --user memgov >/dev/null 2>&1 && fail "setup accepted ../etc"
"$MEMGOV" setup --parent x --user nosuchuser >/dev/null 2>&1 && fail "setup accepted a missing user"
[ -d "$CG/x" ] && fail "setup created a cgroup for a missing user"

# memgov started inside it, as the service user, sees a delegated cgroup.
echo $$ >"$CG/$P/cgroup.procs" || fail "cannot enter $P"
json=$(su -s /bin/sh memgov -c "$MEMGOV probe --json" 2>&1) || json=$(busybox su -s /bin/sh memgov -c "$MEMGOV probe --json" 2>&1)
echo "$json"
echo $$ >"$SVC/cgroup.procs"
rmdir "$CG/$P" 2>/dev/null
echo "$json" | grep -q '"mode":"cgroup"' || fail "memgov in $P as user memgov does not get cgroup mode: $json"
echo "$json" | grep -q '"service_cgroup":"/'"$P"'"' || fail "wrong service cgroup: $json"
diag "setup: $CG/$P owned by memgov with memory and pids; probe inside it as memgov: cgroup mode"
exit 0
