#!/usr/bin/env bash
# deps.sh - make sure the Debian packages this project needs are installed.
# Installs the missing ones when run as root; otherwise says what to run and fails.
set -euo pipefail

# --- the one list -----------------------------------------------------------------------------
BUILD_PACKAGES=(
    build-essential pkg-config clang help2man
    libclang-rt-14-dev    # libFuzzer's runtime for `make fuzz` (clang's Recommends, not installed)
    libssl-dev libwebsockets-dev libprotobuf-c-dev protobuf-c-compiler
    libcjson-dev libsqlite3-dev libpaho-mqtt-dev libcurl4-openssl-dev libcmocka-dev
    libev-dev libwebsockets-evlib-ev   # the relay's loop: libev under lws (docs/event-loops.md)
    libcrypt-dev          # console passwords: yescrypt hashes (crypt_gensalt_ra, crypt_rn)
    libssh-dev    # tunnel-term: the web console's SSH client (a library, since it runs per terminal behind a pipe)
)
RUNTIME_PACKAGES=(    # tests and demo
    python3 python3-websockets openssl mosquitto mosquitto-clients
    awscli python3-boto3     # e2e: the AWS-compatible API driven by the real AWS CLI and boto3
    openssh-server openssh-client curl procps iproute2
    chromium chromium-driver python3-selenium   # e2e: the web console in headless Chromium
)
# npm fetches xterm.js for the console (console/package-lock.json; `make console-assets`).
# Debian's npm only when there is no npm on PATH already (nvm, NodeSource, ...).
NPM_PACKAGES=()
command -v npm >/dev/null 2>&1 || NPM_PACKAGES=(npm)
# ----------------------------------------------------------------------------------------------

PACKAGES=("${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" "${NPM_PACKAGES[@]}")

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: dpkg-query not found; this script needs Debian or a derivative" >&2
    exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    echo "deps: installing ${#missing[@]} missing packages: ${missing[*]}"
    apt-get update
    status=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" || status=$?
    exit "$status"
fi

echo "deps: missing packages; run: sudo apt-get install -y ${missing[*]}" >&2
exit 1
