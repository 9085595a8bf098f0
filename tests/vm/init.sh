#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of the memgov VM tier (busybox sh, pid 1 of a throwaway qemu guest).
#
# It plays the part systemd plays on a real host, and nothing more: it mounts the API
# filesystems, mounts a pure cgroup v2 hierarchy, creates a fresh memgov.service cgroup for
# each scenario (as for a unit with Delegate=yes), writes that cgroup's own attributes from the
# scenario's "# vm-service:" lines (as systemd writes MemoryMax= and friends), runs the
# scenario inside it, then kills and removes it. A scenario never writes memgov.service's
# resource files itself: that is checked after every run (see check_delegation).
#
# Results go to the second serial port (ttyS1), where no kernel message can land, as lines
# "<marker> KIND NAME [TEXT]" with a per-boot marker taken from the kernel command line.
# Scenario output and kernel messages go to the console (ttyS0), which the host keeps as a log.

PATH=/vm/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
export PATH

mount -t devtmpfs devtmpfs /dev 2>/dev/null
# The initramfs has no /dev/console node (it is packed without root rights): take the console
# from devtmpfs so that everything below has stdio.
exec 0</dev/console 1>/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys

VM_NONCE=
VM_SCENARIOS=
for arg in $(cat /proc/cmdline); do
        case "$arg" in
        memgov.nonce=*) VM_NONCE=${arg#*=} ;;
        memgov.scenarios=*) VM_SCENARIOS=$(echo "${arg#*=}" | tr ',' ' ') ;;
        esac
done
VM_MARK="MEMGOV-VM:$VM_NONCE:"
# /dev/ttyS1 always exists (the 8250 driver registers four ports) but writes to it fail with
# EIO when qemu has no second serial port: probe with a real write, else share the console.
VM_RESULTS=/dev/ttyS1
stty -F "$VM_RESULTS" raw -echo 2>/dev/null
echo "$VM_MARK port - ttyS1" 2>/dev/null >>"$VM_RESULTS" || VM_RESULTS=/dev/console
export VM_MARK VM_RESULTS

emit() {
        echo "$VM_MARK $*" >>"$VM_RESULTS"
}

finish() {
        emit "done" - "$1 at $(cut -d' ' -f1 /proc/uptime)s uptime"
        sync
        umount /tmp 2>/dev/null
        # poweroff makes qemu exit (-no-reboot); if it did not, init exiting panics the
        # kernel, and panic=-1 reboots at once, which -no-reboot also turns into an exit.
        poweroff -f
        sleep 5
        exit 1
}

emit boot - "$(uname -r), /init at $(cut -d" " -f1 /proc/uptime)s uptime"

# /tmp: ext4 on a virtio disk the host made with mkfs.ext4. Not tmpfs, because tmpfs pages
# are shmem: they are charged like anonymous memory, cannot be dropped without swap, and
# would make any file-backed test (spool files, page cache reclaim) behave unlike a real
# host. The drivers are modules in Debian's kernel, so the host packs them (in load order).
if [ -f /lib/modules/vm-order ]; then
        while read -r ko; do
                insmod "/lib/modules/$ko" 2>/dev/null || echo "vm init: insmod $ko failed"
        done </lib/modules/vm-order
fi
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
done
if [ -b /dev/vda ] && mount -t ext4 -o noatime /dev/vda /tmp; then
        emit diag - "/tmp is ext4 on virtio-blk"
else
        mount -t tmpfs -o size=256m tmpfs /tmp
        emit diag - "/tmp fell back to tmpfs (no ext4 disk): file pages there are shmem"
fi
chmod 1777 /tmp

# Users the scenarios run stages as (glibc reads these files without NSS modules).
mkdir -p /etc
printf 'root:x:0:0:root:/root:/bin/sh\nmemgov:x:999:999:memgov:/nonexistent:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >/etc/passwd
printf 'root:x:0:\nmemgov:x:999:\nnogroup:x:65534:\n' >/etc/group

# Loopback for the scenarios' local test servers; the guest has no other network.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
flags=$(cat /sys/class/net/lo/flags 2>/dev/null)
[ $((${flags:-0} & 1)) -eq 1 ] || emit diag - "loopback is DOWN (lo flags ${flags:-?})"

# Pure cgroup v2, with the options systemd uses for its unified mount.
CG=/sys/fs/cgroup
if ! mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 "$CG"; then
        mount -t cgroup2 cgroup2 "$CG" || finish "cannot mount cgroup2"
fi
echo "+memory +pids" >"$CG/cgroup.subtree_control" || finish "cannot enable +memory +pids at the root"
if [ -r /proc/pressure/memory ]; then
        emit diag - "PSI on; cgroup controllers: $(cat "$CG/cgroup.controllers")"
else
        emit diag - "PSI off (no /proc/pressure/memory)"
fi

# The memgov binary (with its ldd libraries) is packed when the build tree has one: show that
# it runs here, so a scenario failing on it is not a packing problem.
if [ -x /usr/bin/memgov ]; then
        emit diag - "memgov in the guest: $(/usr/bin/memgov --version 2>&1 | head -n 1)"
fi

SVC=$CG/memgov.service
# The delegator's files of memgov.service: what systemd sets from the unit. A scenario that
# changes one has broken the delegation contract memgov relies on.
SVC_OWN_FILES="memory.min memory.low memory.high memory.max memory.swap.max pids.max"

svc_snapshot() {
        for f in $SVC_OWN_FILES; do
                printf '%s=%s ' "$f" "$(cat "$SVC/$f" 2>/dev/null)"
        done
}

svc_remove() {
        [ -d "$SVC" ] || return 0
        echo 1 >"$SVC/cgroup.kill" 2>/dev/null
        i=0
        while ! grep -q '^populated 0' "$SVC/cgroup.events" 2>/dev/null && [ $i -lt 100 ]; do
                sleep 0.1
                i=$((i + 1))
        done
        # Depth first: a cgroup can only be removed once it has no children.
        find "$SVC" -depth -type d -exec rmdir {} \; 2>/dev/null
        [ ! -d "$SVC" ]
}

header() {
        # The values after "# NAME:", without a trailing "# comment".
        sed -n "s/^# $1: *//p" "$2" | sed 's/[[:space:]]*#.*//'
}

scenario_error() {
        echo "=== vm scenario $1: end ($2) ==="
        emit reason "$1" "$2"
        emit result "$1" fail
}

run_scenario() {
        name=$1
        file=/vm/scenarios/$name.sh
        emit begin "$name"
        echo "=== vm scenario $name: begin ==="
        if [ ! -f "$file" ]; then
                scenario_error "$name" "no scenario file $name.sh in the initramfs"
                return
        fi
        if ! svc_remove || ! mkdir "$SVC"; then
                scenario_error "$name" "cannot create a fresh $SVC"
                return
        fi
        for kv in $(header vm-service "$file"); do
                if ! echo "${kv#*=}" >"$SVC/${kv%%=*}"; then
                        scenario_error "$name" "vm-service: cannot write $kv"
                        return
                fi
        done
        before=$(svc_snapshot)
        tmo=$(header vm-timeout "$file" | head -n 1)
        tmo=${tmo:-90}

        t0=$(cut -d' ' -f1 /proc/uptime)
        # The scenario shell moves itself into memgov.service before it runs anything, like
        # ExecStart= of a delegated unit. timeout(1) watches from outside the service cgroup.
        SCENARIO=$name SVC=$SVC VM_BIN=/vm/bin \
                timeout -s KILL "$tmo" sh -c 'echo $$ >"$SVC/cgroup.procs" && exec sh "$1"' sh "$file" </dev/null
        rc=$?
        t1=$(cut -d' ' -f1 /proc/uptime)
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
        emit time "$name" "$secs"

        after=$(svc_snapshot)
        if ! svc_remove; then
                emit diag "$name" "memgov.service could not be removed after the scenario"
        fi
        echo "=== vm scenario $name: end (exit $rc, ${secs}s) ==="

        if [ "$before" != "$after" ]; then
                emit reason "$name" "the scenario changed memgov.service's own files (delegator's): before: $before after: $after"
                emit result "$name" fail
        elif [ $rc -eq 0 ]; then
                emit result "$name" ok
        elif [ $rc -eq 77 ]; then
                emit result "$name" skip
        elif [ $rc -eq 137 ] && awk -v s="$secs" -v t="$tmo" 'BEGIN { exit !(s >= t - 1) }'; then
                emit reason "$name" "timed out after ${tmo}s (vm-timeout) and was killed"
                emit result "$name" fail
        else
                emit result "$name" "fail" "exit status $rc"
        fi
}

for s in $VM_SCENARIOS; do
        run_scenario "$s"
done
finish ok
