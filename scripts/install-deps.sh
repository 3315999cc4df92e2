#!/usr/bin/env bash
# Installs every Debian package custodia's build, server and tests need. Idempotent: runs
# apt-get update and install only when a package is missing.
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config clang libclang-rt-14-dev
    libmicrohttpd-dev libgnutls28-dev libsodium-dev liboath-dev libsqlite3-dev
    libjansson-dev libinih-dev libzxcvbn-dev libcurl4-gnutls-dev libcmocka-dev
    curl jq oathtool sqlite3 gnutls-bin
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
