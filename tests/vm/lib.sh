# SPDX-License-Identifier: MIT
#
# Sourced by every VM scenario (". /vm/lib.sh"), inside the guest, by busybox sh.
#
# Environment set by /init: SCENARIO (the scenario's name), SVC (its memgov.service cgroup
# directory, which the scenario shell is already in), VM_BIN (helpers), VM_MARK and
# VM_RESULTS (the result channel). MEMGOV is set when the memgov binary is in the initramfs.
#
# Contract: exit 0 = pass, exit 77 = skip, anything else = fail. Use fail/skip so the host
# prints why; use diag for facts worth keeping in the CI log even when the scenario passes.

if [ -x /usr/bin/memgov ]; then
        MEMGOV=/usr/bin/memgov
        export MEMGOV
fi

# diag TEXT: a "# SCENARIO: TEXT" line in the host's TAP output (and on the console).
diag() {
        echo "# $*"
        echo "$VM_MARK diag $SCENARIO $*" >>"$VM_RESULTS"
}

# fail REASON: the scenario fails with this reason.
fail() {
        echo "FAIL: $*"
        echo "$VM_MARK reason $SCENARIO $*" >>"$VM_RESULTS"
        exit 1
}

# skip REASON: the scenario cannot run here; the TAP line says why.
skip() {
        echo "SKIP: $*"
        echo "$VM_MARK reason $SCENARIO $*" >>"$VM_RESULTS"
        exit 77
}

# delegate: what a Delegate=yes service does first: move itself out of memgov.service into
# the leaf supervisor/, so memgov.service may enable controllers for its other children (no
# internal processes), then enable +memory +pids there. Only cgroup.subtree_control and
# cgroup.procs of memgov.service are written: those are the delegated files.
delegate() {
        mkdir -p "$SVC/supervisor" || fail "mkdir $SVC/supervisor"
        echo $$ >"$SVC/supervisor/cgroup.procs" || fail "cannot move the scenario shell into supervisor/"
        echo "+memory +pids" >"$SVC/cgroup.subtree_control" || fail "cannot enable +memory +pids in memgov.service"
}

# new_cgroup PATH [FILE=VALUE...]: create a cgroup under memgov.service and set its files.
new_cgroup() {
        _cg=$SVC/$1
        shift
        mkdir "$_cg" || fail "mkdir $_cg"
        for _kv in "$@"; do
                echo "${_kv#*=}" >"$_cg/${_kv%%=*}" || fail "cannot write ${_kv%%=*}=${_kv#*=} in $_cg"
        done
}

# event_count CGROUP_DIR FILE KEY: a counter from a flat-keyed file (memory.events...), 0 if absent.
event_count() {
        awk -v k="$3" '$1 == k { v = $2 } END { print v + 0 }' "$1/$2"
}

# wait_for TIMEOUT_TENTHS COMMAND...: poll COMMAND every 0.1 s until it succeeds.
wait_for() {
        _n=$1
        shift
        while [ "$_n" -gt 0 ]; do
                "$@" && return 0
                sleep 0.1
                _n=$((_n - 1))
        done
        return 1
}

# alive PID: true while PID exists and is not a zombie.
alive() {
        [ -r "/proc/$1/stat" ] || return 1
        ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"
}

# vm_save FILE [NAME]: send FILE back to the host, which writes it to DATA_DIR/SCENARIO/NAME
# when tests/vm/run has --data (bench/run uses it for time series). Text files of modest size
# only: every line crosses the serial port.
vm_save() {
        _name=${2:-$(basename "$1")}
        sed "s|^|$VM_MARK data $SCENARIO $_name |" "$1" >>"$VM_RESULTS"
}
