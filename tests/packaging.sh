#!/usr/bin/env bash
# Packaging checks (issue 19 item 4).
#
#   tests/packaging.sh install SRC BUILD BINDIR CONFDIR UNITDIR DOCDIR   (ctest pkg.install)
#       `cmake --install BUILD` into a scratch DESTDIR puts the binary, the unit, the example
#       configuration and the docs where cmake/install.cmake says; the installed binary runs; the
#       example is `custodia config example`; the unit names the installed paths, carries the
#       sandboxing the issue asks for, passes `systemd-analyze verify` and scores at most
#       EXPOSURE_MAX in `systemd-analyze security --offline=yes`; debian/control lists the -dev
#       packages of scripts/install-deps.sh; debian/changelog has the project's version.
#   tests/packaging.sh deb SRC BIN                                      (ctest pkg.deb, about a minute)
#       `dpkg-buildpackage -us -uc -b` in a copy of SRC gives a .deb whose contents and control
#       files are checked with dpkg-deb (never installed: the test leaves the system alone).
#
# Exit 0: every check passed; 1: a check failed (each failure printed).
set -euo pipefail

# systemd-analyze security: the issue asks for "OK" or better (below 5.0); the unit scores 1.4
# today, and this ratchet keeps it from drifting. Raise it only with a reason in the unit.
EXPOSURE_MAX=2.0

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
ok() { echo "ok: $*"; }

tmp="$(mktemp -d /tmp/cst-pkg-XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

# The unit's settings the issue requires, exactly as written in it.
required_unit_lines=(
    'Type=notify' 'User=custodia' 'Restart=on-failure' 'LoadCredential=master.key:*'
    'ProtectSystem=strict' 'ReadWritePaths=*/var/lib/custodia*' 'NoNewPrivileges=yes'
    'PrivateTmp=yes' 'ProtectHome=yes' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'
    'SystemCallFilter=@system-service' 'SystemCallArchitectures=native'
    'SystemCallErrorNumber=EPERM' 'MemoryDenyWriteExecute=yes' 'ProtectKernelTunables=yes'
    'ProtectKernelModules=yes' 'ProtectKernelLogs=yes' 'ProtectControlGroups=yes'
    'ProtectClock=yes' 'ProtectHostname=yes' 'RestrictNamespaces=yes' 'RestrictRealtime=yes'
    'RestrictSUIDSGID=yes' 'LockPersonality=yes' 'PrivateDevices=yes' 'CapabilityBoundingSet='
    'UMask=0077' 'LimitCORE=0'
)

# check_unit_lines UNIT: every required setting is there.
check_unit_lines() {
    local unit="$1" want found line
    for want in "${required_unit_lines[@]}"; do
        found=0
        while IFS= read -r line; do
            # shellcheck disable=SC2053 # the patterns are globs on purpose
            [[ "$line" == $want ]] && found=1 && break
        done <"$unit"
        [ "$found" = 1 ] || fail "$unit lacks $want"
    done
}

# verify UNIT BINARY: `systemd-analyze verify` on a copy whose ExecStart names BINARY (the
# installed path does not exist outside the DESTDIR). Any output is a failure: systemd only
# warns about unknown keys and bad values.
verify_unit() {
    local unit="$1" bin="$2" dir out
    dir="$(mktemp -d "$tmp/verify-XXXXXX")"
    sed "s|^ExecStart=[^ ]*/custodia |ExecStart=$bin |" "$unit" >"$dir/custodia.service"
    out="$(systemd-analyze verify --man=no "$dir/custodia.service" 2>&1)" && [ -z "$out" ] ||
        { printf '%s\n' "$out" >&2; return 1; }
}

# exposure UNIT: the overall exposure number of `systemd-analyze security --offline=yes`.
exposure() {
    systemd-analyze security --offline=yes --no-pager "$1" 2>&1 |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p'
}

check_security() {
    local unit="$1" got level
    if ! systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
        echo "note: systemd-analyze $(systemd-analyze --version | head -1) has no --offline;" \
            "security score not checked"
        return 0
    fi
    got="$(exposure "$unit")"
    level="${got#* }"
    [ -n "$got" ] || { fail "no exposure level from systemd-analyze security for $unit"; return 0; }
    if awk -v e="${got%% *}" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(e <= m) }' &&
        [[ "$level" =~ ^(OK|SAFE|PERFECT)$ ]]; then
        ok "systemd-analyze security: exposure $got (at most $EXPOSURE_MAX)"
    else
        fail "systemd-analyze security: exposure $got, more than $EXPOSURE_MAX or worse than OK"
    fi
    # The check can fail: the same unit without its sandboxing scores far worse.
    sed '/^# Sandboxing/,$d' "$unit" >"$tmp/bare.service"
    got="$(exposure "$tmp/bare.service")"
    awk -v e="${got%% *}" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(e > m) }' ||
        fail "an unsandboxed copy scores $got: the threshold proves nothing"
}

check_build_depends() {
    local src="$1" pkg deps
    deps="$(sed -n '/^Build-Depends:/,/^[A-Z][A-Za-z-]*:/p' "$src/debian/control")"
    for pkg in $(sed -n '/^PACKAGES=(/,/^)/p' "$src/scripts/install-deps.sh" | grep -o '[a-z0-9.+-]*-dev'); do
        case "$pkg" in
        libclang-rt-*) continue ;; # clang's sanitizer runtime: the ASan build only, not the package
        esac
        grep -qE "(^|[ ,])$pkg([ ,(<]|$)" <<<"$deps" ||
            fail "debian/control Build-Depends lacks $pkg (scripts/install-deps.sh installs it)"
    done
}

cmd_install() {
    local src="$1" build="$2" bindir="$3" confdir="$4" unitdir="$5" docdir="$6" root="$tmp/root"
    DESTDIR="$root" cmake --install "$build" >"$tmp/install.log" 2>&1 ||
        { cat "$tmp/install.log" >&2; fail "cmake --install failed"; return; }
    local bin="$root$bindir/custodia" ini="$root$confdir/custodia.ini"
    local unit="$root$unitdir/custodia.service" f
    [ -x "$bin" ] && [ "$("$bin" version)" = "custodia $("$build/custodia" version | cut -d' ' -f2)" ] ||
        fail "$bindir/custodia is not the built binary"
    "$bin" config example | cmp -s - "$ini" || fail "$confdir/custodia.ini is not \`custodia config example\`"
    grep -q '^;data_dir = ' "$ini" && ! grep -qv '^\(#.*\|;.*\|\[.*\]\|\)$' "$ini" ||
        fail "$confdir/custodia.ini sets something: every key must be commented out"
    for f in README.md operations.md configuration.md cli.md security.md; do
        [ -f "$root$docdir/$f" ] || fail "$docdir/$f is not installed"
    done
    [ -f "$unit" ] || { fail "$unitdir/custodia.service is not installed"; return; }
    ok "installed: $bindir/custodia, $confdir/custodia.ini, $unitdir/custodia.service, $docdir"
    grep -qx "ExecStart=$bindir/custodia serve --config $confdir/custodia.ini --master-key-file %d/master.key" "$unit" ||
        fail "the unit's ExecStart does not name $bindir/custodia and $confdir/custodia.ini"
    grep -qx "LoadCredential=master.key:$confdir/master.key" "$unit" ||
        fail "the unit does not load $confdir/master.key as its credential"
    check_unit_lines "$unit"
    if verify_unit "$unit" "$bin"; then ok "systemd-analyze verify"; else fail "systemd-analyze verify"; fi
    # The check can fail: a misspelt value is reported.
    sed 's/^Type=notify/Type=notfy/' "$unit" >"$tmp/bad.service"
    ! verify_unit "$tmp/bad.service" "$bin" 2>/dev/null || fail "verify passed a unit with Type=notfy"
    check_security "$unit"
    check_build_depends "$src"
    local version
    version="$(sed -n '1s/^custodia (\([^)]*\)).*/\1/p' "$src/debian/changelog")"
    [ "$version" = "$("$bin" version | cut -d' ' -f2)" ] ||
        fail "debian/changelog has version $version, the binary $("$bin" version)"
}

# copy_tree SRC DEST: the source tree without build dirs (git's view when there is one).
copy_tree() {
    local src="$1" dest="$2"
    mkdir -p "$dest"
    if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$src" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$dest")
    else
        tar -C "$src" --exclude='./build*' --exclude='./var' --exclude='*/node_modules' -cf - . |
            tar -C "$dest" -xf -
    fi
}

cmd_deb() {
    local src="$1" built="$2" start end deb
    copy_tree "$src" "$tmp/src/custodia"
    start=$(date +%s)
    (cd "$tmp/src/custodia" &&
        DEB_BUILD_OPTIONS="nocheck parallel=2" DEB_BUILD_PROFILES=nocheck \
            dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 ||
        { tail -40 "$tmp/build.log" >&2; fail "dpkg-buildpackage -us -uc -b failed"; return; }
    end=$(date +%s)
    deb="$(ls "$tmp"/src/custodia_*_*.deb)"
    ok "dpkg-buildpackage: $(basename "$deb") in $((end - start)) s"
    dpkg-deb -c "$deb" | awk '{print $NF}' >"$tmp/contents"
    for f in ./usr/bin/custodia ./lib/systemd/system/custodia.service ./etc/custodia/custodia.ini \
        ./usr/share/doc/custodia/operations.md ./usr/share/doc/custodia/copyright; do
        grep -qx -- "$f" "$tmp/contents" || fail "the .deb lacks $f"
    done
    if compgen -G "$src/docs/man/*.md" >/dev/null; then
        grep -q '^\./usr/share/man/man1/custodia.*\.1\.gz$' "$tmp/contents" ||
            fail "docs/man/ has pages but the .deb has no ./usr/share/man/man1/custodia*.1.gz"
    else
        echo "note: no docs/man/*.md in this tree: man pages not expected in the .deb"
    fi
    dpkg-deb -I "$deb" control | grep -q '^ *Depends:.*adduser' || fail "the .deb does not depend on adduser"
    [ "$(dpkg-deb -I "$deb" conffiles)" = /etc/custodia/custodia.ini ] ||
        fail "/etc/custodia/custodia.ini is not the .deb's (only) conffile"
    local postinst
    postinst="$(dpkg-deb -I "$deb" postinst)"
    grep -q 'adduser --system --group --home /var/lib/custodia' <<<"$postinst" ||
        fail "postinst does not add the custodia system user"
    grep -q 'install -d -m 0700 /var/lib/custodia' <<<"$postinst" &&
        grep -q 'chown custodia:custodia /var/lib/custodia' <<<"$postinst" ||
        fail "postinst does not create /var/lib/custodia 0700 for custodia"
    dpkg-deb -x "$deb" "$tmp/x"
    [ "$("$tmp/x/usr/bin/custodia" version)" = "$("$built" version)" ] ||
        fail "the packaged binary does not run or is another version"
    "$built" config example | cmp -s - "$tmp/x/etc/custodia/custodia.ini" ||
        fail "the packaged custodia.ini is not \`custodia config example\`"
    check_unit_lines "$tmp/x/lib/systemd/system/custodia.service"
    ok "the .deb holds the binary, the unit, the conffile, the docs; postinst adds the user"
}

case "${1:-}" in
install) shift; cmd_install "$@" ;;
deb) shift; cmd_deb "$@" ;;
*) echo "usage: $0 install SRC BUILD BINDIR CONFDIR UNITDIR DOCDIR | deb SRC BIN" >&2; exit 2 ;;
esac
[ "$failures" = 0 ] || { echo "packaging: $failures check(s) failed" >&2; exit 1; }
echo "packaging: all checks passed"
