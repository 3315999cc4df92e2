#!/usr/bin/env bash
# Installs every Debian package custodia's build, server and tests need. Idempotent: runs
# apt-get update and install only when a package is missing.
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config clang libclang-rt-14-dev
    libmicrohttpd-dev libgnutls28-dev libsodium-dev liboath-dev libsqlite3-dev
    libjansson-dev libinih-dev libzxcvbn-dev libcurl4-gnutls-dev libcmocka-dev
    curl jq oathtool sqlite3 gnutls-bin
    rclone
    libyaml-dev
    libp11-kit-dev softhsm2
    libsystemd-dev debhelper fakeroot
    libseccomp-dev
    libpq-dev postgresql-15 # the PostgreSQL driver (issue 20) and its tests' throw-away cluster
    chromium fonts-dejavu-core
    scdoc
    prometheus # promtool check metrics (DET-2, tests/api/test_api_metrics.c)
)

# The OpenAPI checks (redocly lint, ajv in the API tests) are npm packages pinned in
# tests/openapi/package-lock.json. Node 20+ and npm come with the machine (not Debian's nodejs and
# npm packages, which would conflict). npm ci runs again only when the lock file changed.
npm_tools() {
    local dir
    dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/openapi"
    if ! command -v node >/dev/null || ! command -v npm >/dev/null ||
        ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
        echo "install-deps: the OpenAPI checks need Node 20 or later and npm on PATH" >&2
        exit 1
    fi
    cmp -s "$dir/package-lock.json" "$dir/node_modules/.custodia-lock" && return 0
    echo "install-deps: npm ci in tests/openapi"
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$dir/node_modules/.custodia-lock"
}

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && { npm_tools; exit 0; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
npm_tools
