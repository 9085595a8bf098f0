# SPDX-License-Identifier: MIT
# Shared by scripts/test and scripts/demo.

# The Debian packages building memgov needs.
BUILD_PACKAGES="gcc make autoconf automake autoconf-archive pkg-config xz-utils
        libcurl4-openssl-dev libseccomp-dev libcgroup-dev libinih-dev libcjson-dev libsqlite3-dev libsystemd-dev"
# What the tests need besides: test servers are small python3 programs (standard library only).
TEST_PACKAGES="python3 clang clang-format curl sqlite3 espeak-ng lame sox time"

say() { printf '==> %s\n' "$*"; }

# ensure_packages PKG...: installs the missing ones with apt-get when root, else names them.
ensure_packages() {
        local missing=() p
        for p in "$@"; do
                dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
        done
        [ ${#missing[@]} -eq 0 ] && return 0
        if [ "$(id -u)" -ne 0 ]; then
                echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
                return 1
        fi
        say "installing ${missing[*]}"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/memgov-apt.log 2>&1; then
                apt-get update -q >>/tmp/memgov-apt.log 2>&1
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/memgov-apt.log 2>&1 || {
                        tail -20 /tmp/memgov-apt.log >&2; echo "apt-get install failed (see /tmp/memgov-apt.log)" >&2; return 1; }
        fi
}

# build DIR CONFIGURE-FLAGS...: autogen (when needed), configure (when the flags changed), make.
build() {
        local dir=$1; shift
        local flags="$*"
        [ -x "$top/configure" ] && [ "$top/configure" -nt "$top/configure.ac" ] || (cd "$top" && ./autogen.sh >/dev/null 2>&1) || {
                echo "autogen.sh failed: run it by hand to see why" >&2; return 1; }
        mkdir -p "$dir"
        if [ ! -f "$dir/Makefile" ] || [ "$(cat "$dir/.memgov-flags" 2>/dev/null)" != "$flags" ]; then
                (cd "$dir" && "$top/configure" $flags >configure.out 2>&1) || { tail -20 "$dir/configure.out" >&2; return 1; }
                echo "$flags" >"$dir/.memgov-flags"
        fi
        make -C "$dir" -j"$(nproc)" >"$dir/make.out" 2>&1 || { grep -E 'error|Error' "$dir/make.out" | head -30 >&2; return 1; }
}
