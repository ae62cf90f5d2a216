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
    libpq-dev     # the relay's PostgreSQL store (--db postgresql://...): libpq, PostgreSQL's own client
    libssh-dev    # tunnel-term: the web console's SSH client (a library, since it runs per terminal behind a pipe)
)
RUNTIME_PACKAGES=(    # tests and demo
    python3 python3-websockets openssl mosquitto mosquitto-clients
    awscli python3-boto3     # e2e: the AWS-compatible API driven by the real AWS CLI and boto3
    postgresql               # e2e: test_pg_store runs a throwaway cluster (initdb) for the PostgreSQL store
    haproxy                  # e2e: HAProxy 2.6 in front of relay nodes (PROXY protocol, the cluster test's token-key hashing)
    openssh-server openssh-client curl procps iproute2
    chromium chromium-driver python3-selenium   # e2e: the web console in headless Chromium
)
PACKAGING_PACKAGES=(  # make deb, make static, the arm64 e2e test (docs/install.md)
    debhelper lintian fakeroot dpkg-dev qemu-user-static
)
# Cross builds (make deb ARCH=arm64|armhf) build the device side only: tunnel-agent and
# localproxy, which need none of libwebsockets, SQLite, libev, libssh or curl. Debian's
# toolchains and these -dev packages of each foreign architecture, beside the native ones.
# (libwebsockets-dev and libcurl4-openssl-dev do not co-install for two architectures on
# Debian 12: docs/install.md, "Building the packages".)
CROSS_ARCHES=(arm64 armhf)
CROSS_TOOLCHAIN_arm64=crossbuild-essential-arm64
CROSS_TOOLCHAIN_armhf=crossbuild-essential-armhf
CROSS_LIBS=(libssl-dev libprotobuf-c-dev libcjson-dev libpaho-mqtt-dev)

# npm fetches xterm.js for the console (console/package-lock.json; `make console-assets`).
# Debian's npm only when there is no npm on PATH already (nvm, NodeSource, ...).
NPM_PACKAGES=()
command -v npm >/dev/null 2>&1 || NPM_PACKAGES=(npm)
# ----------------------------------------------------------------------------------------------

PACKAGES=("${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" "${NPM_PACKAGES[@]}" "${PACKAGING_PACKAGES[@]}")
for arch in "${CROSS_ARCHES[@]}"; do
    toolchain=CROSS_TOOLCHAIN_$arch
    PACKAGES+=("${!toolchain}")
    for lib in "${CROSS_LIBS[@]}"; do PACKAGES+=("$lib:$arch"); done
done

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: dpkg-query not found; this script needs Debian or a derivative" >&2
    exit 1
fi

native=$(dpkg --print-architecture)
missing=()
for pkg in "${PACKAGES[@]}"; do
    # A library installed for two architectures answers twice to its bare name.
    [[ $pkg == *:* ]] && query=("$pkg") || query=("$pkg:$native" "$pkg")
    status=
    for q in "${query[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$q" 2>/dev/null || true)
        [[ -z $status ]] || break
    done
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

# A multiarch library must have the same version for every architecture. The native one may be
# newer (a security update) than the foreign architectures' candidate, or older: prints the
# newest version that PACKAGE has for both the native ARCH and the foreign one, or nothing.
common_version() {
    local pkg=$1 arch=$2 v
    while read -r v; do
        if apt-cache madison "$pkg" | awk '{print $3}' | grep -qxF "$v"; then
            echo "$v"
            return
        fi
    done < <(apt-cache madison "$pkg:$arch" | awk '{print $3}')
}

if [[ $(id -u) -eq 0 ]]; then
    echo "deps: installing ${#missing[@]} missing packages: ${missing[*]}"
    for arch in "${CROSS_ARCHES[@]}"; do
        [[ $arch == "$native" ]] || dpkg --add-architecture "$arch"
    done
    # A mirror caught mid-sync fails one index; what the others hold may still be enough.
    apt-get update || echo "deps: apt-get update reported errors; trying with the lists it has" >&2
    plain=() pinned=()
    for pkg in "${missing[@]}"; do
        if [[ $pkg == *:* ]]; then
            v=$(common_version "${pkg%%:*}" "${pkg#*:}")
            if [[ -z $v ]]; then
                # The cross build for that architecture (and its test) cannot run; the rest can.
                echo "deps: WARNING: no version of ${pkg%%:*} exists for both $native and" \
                     "${pkg#*:} (a mirror mid-sync?): skipping it" >&2
                continue
            fi
            # ...and the libraries it depends on at exactly its own version (libssl3 for
            # libssl-dev), for both architectures.
            for dep in "${pkg%%:*}" $(apt-cache show "$pkg=$v" | sed -n 's/^Depends: //p' | head -1 |
                                      tr ',' '\n' | sed -n "s/^ *\([^ :]*\)\(:any\)\? *(= $v).*/\1/p"); do
                pinned+=("$dep:${pkg#*:}=$v" "$dep:$native=$v")
            done
        else
            plain+=("$pkg")
        fi
    done
    status=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends --allow-downgrades \
        "${plain[@]}" "${pinned[@]}" || status=$?
    exit "$status"
fi

echo "deps: missing packages; run: sudo apt-get install -y ${missing[*]}" >&2
exit 1
