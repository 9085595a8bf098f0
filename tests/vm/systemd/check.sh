#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Runs inside the booted Debian 12 image (memgov-vmtest.service, after multi-user.target) and
# checks memgov.service under a real systemd. Each check is a TAP point written to the second
# serial port (ttyS1) after the per-run marker; the host (tests/vm/systemd/run) numbers nothing
# itself. Powers the machine off at the end.

. /opt/memgov-vmtest/env        # MARK MEMGOV POLICY
BB=/opt/memgov-vmtest/busybox
OUT=/dev/ttyS1
stty -F $OUT raw -echo 2>/dev/null
echo "$MARK # results on ttyS1" 2>/dev/null >>$OUT || OUT=/dev/console
SVC=/sys/fs/cgroup/system.slice/memgov.service
N=0
T0=$(cut -d' ' -f1 /proc/uptime)

emit() { echo "$MARK $*" >>$OUT; echo "vmtest: $*"; }
diag() { local l; while IFS= read -r l; do emit "# $l"; done <<<"$*"; }
ok() { N=$((N + 1)); emit "ok $N - vm-systemd: $1"; }
notok() { N=$((N + 1)); emit "not ok $N - vm-systemd: $1"; shift; [ $# -gt 0 ] && diag "$*"; }
# check NAME CMD...: a TAP point from a command's status.
check() {
        local name=$1; shift
        local out
        if out=$("$@" 2>&1); then ok "$name"; else notok "$name" "$out"; fi
}
wait_for() {        # wait_for TENTHS CMD...
        local i=0
        while [ $i -lt "$1" ]; do "${@:2}" >/dev/null 2>&1 && return 0; sleep 0.1; i=$((i + 1)); done
        return 1
}
prop() { systemctl show -P "$1" memgov.service; }
journal_has() { journalctl -q -o cat -u memgov.service --since "@$1" | grep -q -- "$2"; }
now() { date +%s; }

emit "plan 9"

# 1. systemd is PID 1 and the system is up.
state=$(timeout 120 systemctl is-system-running --wait 2>&1)
comm=$(cat /proc/1/comm)
if [ "$comm" = systemd ] && { [ "$state" = running ] || [ "$state" = degraded ]; } &&
        [ "$(systemctl show -P ActiveState multi-user.target)" = active ]; then
        ok "systemd is PID 1 and multi-user.target is active (system $state)"
else
        notok "systemd is PID 1 and multi-user.target is active" "pid 1: $comm, system: $state"
fi
[ "$state" = degraded ] && diag "failed units: $(systemctl --failed --no-legend --plain | tr '\n' ';')"
diag "$(systemd-analyze 2>&1 | head -n 1)"
command -v kill >/dev/null && [ -x /bin/kill ] && diag "/bin/kill (ExecReload=) is from $(dpkg -S /bin/kill 2>/dev/null | cut -d: -f1): Debian minbase has no /bin/kill"
diag "kernel $(uname -r), systemd $(systemctl --version | head -n 1 | cut -d' ' -f2)"

# The test policy: a stand-in transcriber, episodes from busybox httpd on loopback.
mkdir -p /srv/www
wav() {
        printf 'RIFF\304\017\000\000WAVEfmt \020\000\000\000\001\000\001\000\100\037\000\000\200\076\000\000\002\000\020\000data\240\017\000\000'
        head -c 4000 /dev/zero
}
for n in 00 01; do
        wav >/srv/www/ep$n.wav
        printf '{"id":"ep%s","url":"http://127.0.0.1:8080/ep%s.wav"}\n' $n $n >>/srv/manifest.jsonl
done
$BB httpd -p 127.0.0.1:8080 -h /srv/www || diag "busybox httpd did not start"
# Slow enough (2 s) that the stage cgroup can be seen under jobs/.
printf '#!/bin/sh\nsleep 2\necho "transcript of $(basename "$1")"\n' >/opt/memgov-vmtest/transcriber.sh
chmod 755 /opt/memgov-vmtest/transcriber.sh
write_policy() {        # write_policy BACKOFF_MAX
        cat >"$POLICY" <<EOF
[memory]
budget = 512M
headroom = 32M
job_min = 32M
job_max = 256M
[class.transcribe]
estimate = 64M
[class.download]
max_concurrent = 2
[command]
argv = /bin/sh /opt/memgov-vmtest/transcriber.sh {audio}
prepare =
[retry]
backoff_min = 100ms
backoff_max = $1
EOF
}
cp "$POLICY" /opt/memgov-vmtest/shipped-policy.ini
write_policy 500ms
"$MEMGOV" check "$POLICY" >/tmp/check.out 2>&1 || diag "memgov check of the test policy: $(cat /tmp/check.out)"

# 2. start: Type=notify, so 'systemctl start' returns only after READY=1.
t=$(now)
if systemctl start memgov.service 2>/tmp/start.err && [ "$(prop ActiveState)/$(prop SubState)" = active/running ]; then
        ok "systemctl start memgov: active/running after READY (Type=$(prop Type))"
        diag "status: $(prop StatusText)"
else
        notok "systemctl start memgov: active/running after READY" \
                "$(cat /tmp/start.err; prop ActiveState; journalctl -q -o cat -u memgov.service -n 20)"
fi
MAIN=$(prop MainPID)

# 3. the daemon moved itself into supervisor/.
cg=$(sed -n 's/^0:://p' /proc/$MAIN/cgroup 2>/dev/null)
if [ "$cg" = /system.slice/memgov.service/supervisor ]; then
        ok "the daemon (pid $MAIN) is in memgov.service/supervisor"
else
        notok "the daemon is in memgov.service/supervisor" "pid $MAIN is in '$cg'; tree: $(ls $SVC 2>&1 | tr '\n' ' ')"
fi

# 4. submit two episodes; a stage cgroup appears under jobs/; both end done.
t0=$(cut -d' ' -f1 /proc/uptime)
"$MEMGOV" submit -p "$POLICY" --manifest /srv/manifest.jsonl >/tmp/submit.out 2>&1
src=$?
seen=
i=0
while [ $i -lt 600 ]; do
        for d in $(find $SVC/jobs -mindepth 1 -maxdepth 1 -type d 2>/dev/null); do
                case " $seen " in *" ${d#$SVC/} "*) ;; *) seen="$seen ${d#$SVC/}" ;; esac
        done
        [ "$("$MEMGOV" list -p "$POLICY" --state done --json 2>/dev/null | grep -o '"id"' | wc -l)" -eq 2 ] && break
        sleep 0.1
        i=$((i + 1))
done
done_n=$("$MEMGOV" list -p "$POLICY" --state done --json 2>/dev/null | grep -o '"id"' | wc -l)
t1=$(cut -d' ' -f1 /proc/uptime)
if [ $src -eq 0 ] && [ "$done_n" -eq 2 ] && [ -n "$seen" ]; then
        ok "submit 2 episodes: both done, stage cgroups appeared under jobs/"
        diag "stage cgroups seen:$seen"
        diag "submit to done: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s"
else
        notok "submit 2 episodes: both done, a stage cgroup appeared under jobs/" \
                "submit rc $src: $(cat /tmp/submit.out); done: $done_n; stage cgroup seen: '${seen}'
$("$MEMGOV" list -p "$POLICY" 2>&1 | head -n 5)
$(journalctl -q -o cat -u memgov.service -n 15)"
fi

# 5. reload with a changed valid policy is applied.
write_policy 2s
t=$(now); sleep 1
systemctl reload memgov.service 2>/tmp/reload.err
if wait_for 100 journal_has "$t" "reload: .* applied" && [ "$(prop ActiveState)" = active ]; then
        ok "systemctl reload with a changed valid policy: applied"
else
        notok "systemctl reload with a changed valid policy: applied" \
                "$(cat /tmp/reload.err; journalctl -q -o cat -u memgov.service --since "@$t")"
fi

# 6. reload with an invalid policy is refused, the service stays active.
echo "this is not [ a policy" >>"$POLICY"
t=$(now); sleep 1
systemctl reload memgov.service 2>/tmp/reload.err
if wait_for 100 journal_has "$t" "is invalid; keeping the policy in force" &&
        sleep 1 && [ "$(prop ActiveState)" = active ] && [ "$(prop MainPID)" = "$MAIN" ]; then
        ok "systemctl reload with an invalid policy: refused, still active, same pid"
else
        notok "systemctl reload with an invalid policy: refused, still active" \
                "$(cat /tmp/reload.err; prop ActiveState; journalctl -q -o cat -u memgov.service --since "@$t")"
fi
write_policy 2s

# 7. stop drains and ends inactive without failure: stopped while a transcribe stage runs, the
# daemon (SIGTERM only, KillMode=mixed) lets it finish, its transcript exists, and systemd
# never had to SIGKILL anything.
wav >/srv/www/ep02.wav
"$MEMGOV" submit -p "$POLICY" ep02 http://127.0.0.1:8080/ep02.wav >/tmp/submit2.out 2>&1 ||
        diag "submit ep02: $(cat /tmp/submit2.out)"
wait_for 300 sh -c "ls -d $SVC/jobs/ep02.transcribe.*" || diag "no transcribe stage of ep02 seen before stop"
t=$(now); sleep 0.2
systemctl stop memgov.service 2>/tmp/stop.err
st="$(prop ActiveState)/$(prop Result)"
if [ "$st" = inactive/success ] && ! systemctl -q is-failed memgov.service &&
        journal_has "$t" "draining: [1-9][0-9]* stages running" &&
        [ -s /var/lib/memgov/out/ep02.txt ] &&
        ! journal_has "$t" "Killing process\|State 'stop-sigterm' timed out"; then
        ok "systemctl stop during a stage: drained (transcript written), inactive, result success"
else
        notok "systemctl stop during a stage: drained (transcript written), inactive, result success" "state $st; $(cat /tmp/stop.err; journalctl -q -o cat -u memgov.service -n 15)"
fi
diag "stop journal: $(journalctl -q -o cat -u memgov.service --since "@$t" | tr '\n' '|')"

# 8./9. the watchdog restarts a hung daemon (WatchdogSec=5s from a drop-in, SIGSTOP).
mkdir -p /etc/systemd/system/memgov.service.d
printf '[Service]\nWatchdogSec=5s\n' >/etc/systemd/system/memgov.service.d/60-vmtest-watchdog.conf
systemctl daemon-reload
systemctl start memgov.service
MAIN=$(prop MainPID)
before=$(prop NRestarts)
if [ "$(prop WatchdogUSec)" = 5s ] && [ "$(prop ActiveState)" = active ]; then
        ok "restart with WatchdogSec=5s from a drop-in: active, pid $MAIN"
else
        notok "restart with WatchdogSec=5s from a drop-in: active" "WatchdogUSec $(prop WatchdogUSec), $(prop ActiveState)"
fi
sleep 3                # the pings work: still the same process
[ "$(prop MainPID)" = "$MAIN" ] || diag "the main pid changed before SIGSTOP"
t=$(now)
ts0=$(cut -d' ' -f1 /proc/uptime)
kill -STOP "$MAIN"
restarted() {
        local p
        p=$(prop MainPID)
        [ "$p" != 0 ] && [ "$p" != "$MAIN" ] && [ "$(prop ActiveState)" = active ] && [ "$(prop NRestarts)" -gt "$before" ]
}
if wait_for 900 restarted; then
        ts1=$(cut -d' ' -f1 /proc/uptime)
        ok "the watchdog restarted a SIGSTOPped daemon: pid $MAIN -> $(prop MainPID), NRestarts $(prop NRestarts)"
        diag "SIGSTOP to active again: $(awk -v a="$ts0" -v b="$ts1" 'BEGIN { printf "%.1f", b - a }')s"
else
        notok "the watchdog restarted a SIGSTOPped daemon" \
                "MainPID $(prop MainPID), $(prop ActiveState)/$(prop SubState), NRestarts $(prop NRestarts); $(journalctl -q -o cat -u memgov.service --since "@$t" | tail -n 15)"
fi
diag "watchdog journal: $(journalctl -q -o cat -u memgov.service --since "@$t" | grep -i -m 3 'watchdog\|abort\|restart' | tr '\n' '|')"
systemctl stop memgov.service

diag "checks took $(awk -v a="$T0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')s, uptime $(cut -d' ' -f1 /proc/uptime)s"
emit "done"
sync
systemctl poweroff --no-block
