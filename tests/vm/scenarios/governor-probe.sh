#!/bin/sh
# SPDX-License-Identifier: MIT
# vm-mem: 512
# vm-timeout: 60
#
# memgov probe inside a delegated service cgroup on a pure cgroup v2 kernel reports cgroup mode
# with nothing missing, and finds the service cgroup again after the daemon moved itself into
# supervisor/ (a restart inside the same unit).
. /vm/lib.sh

[ -n "$MEMGOV" ] || skip "no memgov binary in the initramfs (build it first)"

out=$("$MEMGOV" probe 2>&1) || fail "memgov probe failed: $out"
echo "$out"
echo "$out" | grep -q '^mode: *cgroup' || fail "probe does not report cgroup mode: $(echo "$out" | grep -e mode -e why | tr '\n' ' ')"
echo "$out" | grep -q 'why:' && fail "probe reports problems on a delegated v2 host: $(echo "$out" | grep why | tr '\n' ' ')"
echo "$out" | grep -q '^delegated: *yes' || fail "probe does not see the delegation"
echo "$out" | grep -q '^PSI: *system yes, cgroup yes; trigger windows 500ms-10s' || fail "probe does not see PSI and CAP_SYS_RESOURCE"

json=$("$MEMGOV" probe --json 2>&1) || fail "memgov probe --json failed: $json"
echo "$json" | grep -q '"service_cgroup":"/memgov.service"' || fail "probe --json names another service cgroup: $json"
echo "$json" | grep -q '"has_memory":true' || fail "probe --json does not see the memory controller: $json"

# After the daemon has moved into supervisor/, the service cgroup is still memgov.service.
delegate
out=$("$MEMGOV" probe --json 2>&1) || fail "memgov probe --json from supervisor/ failed: $out"
echo "$out" | grep -q '"own_cgroup":"/memgov.service/supervisor"' || fail "own cgroup not seen as supervisor/: $out"
echo "$out" | grep -q '"service_cgroup":"/memgov.service"' || fail "service cgroup not found from supervisor/: $out"
echo "$out" | grep -q '"mode":"cgroup"' || fail "not cgroup mode from supervisor/: $out"

printf '[memory]\nenforcement = cgroup\n' >/tmp/cgroup.ini
"$MEMGOV" probe -p /tmp/cgroup.ini >/dev/null 2>&1 || fail "enforcement = cgroup refused on a capable host"
diag "probe: $(echo "$json" | sed 's/.*"mode":"\([a-z]*\)".*/mode \1/'), service /memgov.service, PSI triggers 500ms windows"
exit 0
