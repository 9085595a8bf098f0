#!/bin/bash
# SPDX-License-Identifier: MIT
# The systemd unit and the install layout, checked on the host without systemd as PID 1:
# systemd-analyze verify and security (offline) on the generated unit, the unit's numbers
# against the shipped policy, sysusers.d/tmpfiles.d applied to a scratch root, and
# `make install`/`make uninstall` into a DESTDIR that keep an administrator's policy.
. "$(dirname "$0")/lib.sh"

unit=$top_builddir/systemd/memgov.service
policy=$top_srcdir/policies/default.ini
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

# Sizes as memgov writes them (1600M, 1G, 256M) in bytes; durations (1m, 30s, 1h30m) in ms.
to_bytes() {
        local n=${1%[KMGT]}
        case $1 in
        *K) echo $((n << 10)) ;; *M) echo $((n << 20)) ;; *G) echo $((n << 30)) ;;
        *T) echo $((n << 40)) ;; *) echo "$n" ;;
        esac
}
to_ms() {
        local rest=$1 total=0 n u
        while [[ $rest =~ ^([0-9]+)(ms|s|m|h)(.*)$ ]]; do
                n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]} rest=${BASH_REMATCH[3]}
                case $u in
                ms) total=$((total + n)) ;; s) total=$((total + n * 1000)) ;;
                m) total=$((total + n * 60000)) ;; h) total=$((total + n * 3600000)) ;;
                esac
        done
        [ -z "$rest" ] && echo "$total"
}
# unit_key KEY: the last value the unit gives KEY (what systemd uses).
unit_key() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }
# policy_key KEY: the effective value in the shipped policy.
policy_key() { "$MEMGOV" check "$policy" 2>/dev/null | sed -n "s/^$1 = //p" | head -n 1; }

check "the unit is generated" [ -s "$unit" ]
check "every @placeholder@ of the unit is substituted" bash -c "! grep -n '@[a-z_]*@' '$unit'"

# systemd-analyze verify needs the ExecStart binary: a copy of the unit points at the build.
sed "s|^ExecStart=[^ ]*|ExecStart=$MEMGOV|" "$unit" >"$t/memgov.service"
if ! command -v systemd-analyze >/dev/null; then
        skip "systemd-analyze verify" "systemd-analyze not installed (Debian package systemd)"
        skip "systemd-analyze security" "systemd-analyze not installed (Debian package systemd)"
else
        # verify exits 0 on unknown keys and bad values; any message at all is a failure.
        systemd-analyze verify --man=no "$t/memgov.service" >"$t/verify.out" 2>&1
        rc=$?
        sed 's/^/# /' "$t/verify.out"
        check "systemd-analyze verify accepts the unit without a message" \
                bash -c "[ $rc -eq 0 ] && [ ! -s '$t/verify.out' ]"
        # The hardening must not regress: systemd's own exposure score, 0 (best) to 10.
        score=$(systemd-analyze security --offline=yes --no-pager "$t/memgov.service" 2>/dev/null |
                sed -n 's/.*Overall exposure level for memgov.service: \([0-9.]*\).*/\1/p')
        echo "# systemd-analyze security exposure: ${score:-?}"
        check "systemd-analyze security exposure is at most 5.0" \
                awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 5.0) }'
        # A deliberately broken copy proves the checks above can fail.
        printf 'KillMode=sometimes\n' >>"$t/memgov.service"
        systemd-analyze verify --man=no "$t/memgov.service" >"$t/verify-bad.out" 2>&1
        check "systemd-analyze verify reports a broken unit" [ -s "$t/verify-bad.out" ]
fi

check "Type=notify with NotifyAccess=main" \
        bash -c "[ '$(unit_key Type)' = notify ] && [ '$(unit_key NotifyAccess)' = main ]"
check "Delegate=yes (memgov manages the subtree)" [ "$(unit_key Delegate)" = yes ]
check "ProtectControlGroups is off (memgov writes its cgroups)" [ "$(unit_key ProtectControlGroups)" = no ]
check "OOMPolicy=continue (a stage OOM does not stop the service)" [ "$(unit_key OOMPolicy)" = continue ]
check "KillMode=mixed (SIGTERM to the daemon only, so it can drain)" [ "$(unit_key KillMode)" = mixed ]
for key in RestrictNamespaces MemoryDenyWriteExecute ProtectProc ProcSubset StateDirectory DynamicUser; do
        check "$key= is not set (see the unit's comments)" bash -c "! grep -q '^$key=' '$unit'"
done
check "ExecStart runs the installed binary with the installed policy" \
        bash -c "unit_exec='$(unit_key ExecStart)'; case \$unit_exec in */bin/memgov\ daemon\ -p\ */memgov/policy.ini) ;; *) exit 1 ;; esac"

# The numbers must fit the shipped policy.
max=$(to_bytes "$(unit_key MemoryMax)")
reserve=$(to_bytes "$(policy_key reserve)")
job_max=$(to_bytes "$(policy_key job_max)")
headroom=$(to_bytes "$(policy_key headroom)")
echo "# MemoryMax $max, reserve $reserve, job_max $job_max, headroom $headroom (bytes)"
check "MemoryMax - reserve leaves room for one stage at job_max plus headroom" \
        [ "${max:-0}" -gt 0 -a "$((${max:-0} - reserve))" -ge "$((job_max + headroom))" ]
stop=$(to_ms "$(unit_key TimeoutStopSec)")
drain=$(to_ms "$(policy_key drain_grace)")
check "TimeoutStopSec exceeds drain_grace plus the 30 s stop of late stages" \
        [ -n "$drain" -a "${stop:-0}" -gt "$((${drain:-0} + 30000))" ]
watchdog=$(to_ms "$(unit_key WatchdogSec)")
check "WatchdogSec leaves many 1 s pings" [ "${watchdog:-0}" -ge 10000 ]
state_dir=$(policy_key state_dir)
socket=$(policy_key socket)
check "the shipped state_dir is writable under ProtectSystem=strict" \
        bash -c "grep -q '^ReadWritePaths=.*$state_dir' '$unit' && grep -q '^d $state_dir 0710 root memgov' '$top_srcdir/systemd/memgov.tmpfiles'"
check "the shipped socket lives in the RuntimeDirectory" \
        [ "/run/$(unit_key RuntimeDirectory)" = "$(dirname "$socket")" ]

# sysusers.d and tmpfiles.d, applied to a scratch root the way the package scripts would.
if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
        r=$t/root
        mkdir -p "$r/etc" "$r/usr/lib/sysusers.d" "$r/usr/lib/tmpfiles.d"
        cp "$top_builddir/systemd/sysusers.d/memgov.conf" "$r/usr/lib/sysusers.d/"
        cp "$top_builddir/systemd/tmpfiles.d/memgov.conf" "$r/usr/lib/tmpfiles.d/"
        systemd-sysusers --root="$r" >/dev/null 2>&1
        check "sysusers.d creates the memgov user without a login shell" \
                grep -q '^memgov:x:[0-9]*:[0-9]*:memgov stage processes:/var/lib/memgov:/usr/sbin/nologin$' "$r/etc/passwd"
        gid=$(sed -n 's/^memgov:x:\([0-9]*\):.*/\1/p' "$r/etc/group")
        systemd-tmpfiles --root="$r" --create >/dev/null 2>&1
        check "tmpfiles.d creates the state folder 0710 root:memgov" \
                [ -n "$gid" -a "$(stat -c '%a %u %g' "$r/var/lib/memgov" 2>/dev/null)" = "710 0 $gid" ]
else
        skip "sysusers.d creates the memgov user" "systemd-sysusers or systemd-tmpfiles not installed"
        skip "tmpfiles.d creates the state folder" "systemd-sysusers or systemd-tmpfiles not installed"
fi

# make install / uninstall into a DESTDIR. The calling make's jobserver is not ours.
unset MAKEFLAGS MFLAGS MAKELEVEL
d=$t/dest
mk() { make -s -C "$top_builddir" DESTDIR="$d" "$@" >>"$t/make.log" 2>&1; }
find_one() { find "$d" -path "$1" -type f | head -n 1; }
mk install
check "make install succeeds" [ $? -eq 0 ]
bin=$(find_one '*/bin/memgov')
installed_unit=$(find_one '*/systemd/system/memgov.service')
installed_policy=$(find_one '*/memgov/policy.ini')
check "make install lays out the binary" [ -x "$bin" ]
check "make install lays out the unit, pointing at the installed binary" \
        bash -c "[ -f '$installed_unit' ] && grep -q '^ExecStart=${bin#"$d"} daemon' '$installed_unit'"
check "make install lays out sysusers.d/memgov.conf" [ -n "$(find_one '*/sysusers.d/memgov.conf')" ]
check "make install lays out tmpfiles.d/memgov.conf" [ -n "$(find_one '*/tmpfiles.d/memgov.conf')" ]
check "make install lays out the shipped policy" cmp -s "$policy" "$installed_policy"
check "make install lays out memgov(8) and memgov.ini(5)" \
        bash -c "[ -n '$(find_one '*/man8/memgov.8')' ] && [ -n '$(find_one '*/man5/memgov.ini.5')' ]"
check "the unit's policy path is the installed policy" \
        grep -q "^ExecStart=.* -p ${installed_policy#"$d"}\$" "$installed_unit"

printf '\n[daemon]\ndrain_grace = 5m\n' >>"$installed_policy"
cp "$installed_policy" "$t/admin.ini"
mk install
check "make install again keeps the administrator's policy" cmp -s "$t/admin.ini" "$installed_policy"
mk uninstall
check "make uninstall succeeds" [ $? -eq 0 ]
check "make uninstall keeps a changed policy" cmp -s "$t/admin.ini" "$installed_policy"
check "make uninstall removes everything else" \
        [ "$(find "$d" -type f | grep -v -c '/memgov/policy.ini$')" -eq 0 ]
cp "$policy" "$installed_policy"
mk uninstall
check "make uninstall removes an unchanged policy: nothing is left" [ -z "$(find "$d" -type f)" ]
[ "$tap_failed" -eq 0 ] || sed 's/^/# /' "$t/make.log"

finish
