#!/usr/bin/env bash
# mkpki.sh - make a DEVELOPMENT PKI for tunnel-relay, localproxy, mosquitto and tunnel-agent.
#
# Everything here is for development and tests only: the CA key sits unencrypted next to the
# certificates it signs. See certs/README.md.
set -euo pipefail

PROG=${0##*/}

# Validity periods (days).
CA_DAYS=3650    # 10 years
LEAF_DAYS=825   # the most a TLS server certificate may have and still be accepted everywhere

CA_CN="IoT Tunnel Development CA"
RELAY_CN="tunnel-relay"
BROKER_CN="mqtt-broker"
SERVER_SAN="DNS:localhost, IP:127.0.0.1, IP:::1"

usage() {
    cat <<EOF
Usage: $PROG [-o OUTDIR] [--device CN]... [--client CN]...

Make a development PKI (EC P-256) with the openssl command line tool.

Options:
  -o, --out OUTDIR   where to write the files (default: certs/dev, relative to the
                     current directory)
      --device CN    also make device-CN.pem/.key, a client certificate for the
                     device whose thing name is CN (repeatable)
      --client CN    also make client-CN.pem/.key, a client certificate with
                     CN=CN (repeatable)
  -h, --help         print this help and exit

CN: 1 to 64 characters from [A-Za-z0-9_.:-].

Files in OUTDIR:
  ca.pem, ca.key                 CA (reused if present, so later runs sign with it)
  relay.pem, relay.key           tunnel-relay TLS server (CN=$RELAY_CN)
  broker.pem, broker.key         MQTT broker TLS server (CN=$BROKER_CN)
  relay-mqtt.pem, relay-mqtt.key relay's MQTT client certificate (CN=$RELAY_CN)
  device-CN.pem, device-CN.key   per --device
  client-CN.pem, client-CN.key   per --client
Server certificates carry subjectAltName $SERVER_SAN.
Leaf certificates are regenerated on every run. For development only.
EOF
}

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

usage_error() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    printf "Try '%s --help'.\n" "$PROG" >&2
    exit 2
}

valid_cn() {
    [[ ${#1} -ge 1 && ${#1} -le 64 && $1 =~ ^[A-Za-z0-9_.:-]+$ ]]
}

# --- arguments --------------------------------------------------------------------------------

OUTDIR=certs/dev
DEVICES=()
CLIENTS=()

need_arg() {   # option, number of remaining args
    [[ $2 -ge 2 ]] || usage_error "option '$1' needs an argument"
}

while [[ $# -gt 0 ]]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        -o | --out) need_arg "$1" $#; OUTDIR=$2; shift 2 ;;
        --out=*) OUTDIR=${1#*=}; shift ;;
        -o?*) OUTDIR=${1#-o}; shift ;;
        --device) need_arg "$1" $#; DEVICES+=("$2"); shift 2 ;;
        --device=*) DEVICES+=("${1#*=}"); shift ;;
        --client) need_arg "$1" $#; CLIENTS+=("$2"); shift 2 ;;
        --client=*) CLIENTS+=("${1#*=}"); shift ;;
        --) shift; [[ $# -eq 0 ]] || usage_error "unexpected argument '$1'" ;;
        -*) usage_error "unknown option '$1'" ;;
        *) usage_error "unexpected argument '$1'" ;;
    esac
done

[[ -n $OUTDIR ]] || usage_error "OUTDIR must not be empty"
[[ $OUTDIR != -* ]] || OUTDIR=./$OUTDIR   # never let a path look like an option
for cn in ${DEVICES[@]+"${DEVICES[@]}"}; do
    valid_cn "$cn" || die "invalid device CN '$cn': need 1..64 characters from [A-Za-z0-9_.:-]"
done
for cn in ${CLIENTS[@]+"${CLIENTS[@]}"}; do
    valid_cn "$cn" || die "invalid client CN '$cn': need 1..64 characters from [A-Za-z0-9_.:-]"
done

command -v openssl >/dev/null 2>&1 || die "openssl not found in PATH (Debian: apt-get install openssl)"

# --- working area -----------------------------------------------------------------------------

mkdir -p -- "$OUTDIR" 2>/dev/null || die "cannot create output directory '$OUTDIR'"
[[ -d $OUTDIR && -w $OUTDIR ]] || die "output directory '$OUTDIR' is not a writable directory"

# Scratch space inside OUTDIR (mode 700) so finished files can be renamed into place atomically.
WORK=$(umask 077 && mktemp -d "$OUTDIR/.mkpki.XXXXXX") || die "cannot create a temporary directory in '$OUTDIR'"
cleanup() { rm -rf -- "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

LOG=$WORK/openssl.log

# ossl WHAT ARGS...: run openssl quietly; on failure show its output and stop.
ossl() {
    local what=$1
    shift
    if ! openssl "$@" >"$LOG" 2>&1; then
        printf '%s: error: %s failed (openssl %s):\n' "$PROG" "$what" "$1" >&2
        sed 's/^/  /' "$LOG" >&2
        exit 1
    fi
}

# Minimal config for 'openssl req' so the system openssl.cnf does not add anything.
cat >"$WORK/req.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF

cat >"$WORK/ext.cnf" <<EOF
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = serverAuth
subjectAltName = $SERVER_SAN
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF

newkey() {   # path
    ( umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" ) \
        >"$LOG" 2>&1 || { sed 's/^/  /' "$LOG" >&2; die "cannot generate an EC P-256 key"; }
    chmod 600 "$1"
}

serial() {   # random positive 127-bit serial number
    local hex
    hex=$(openssl rand -hex 16) || die "openssl rand failed"
    printf '0x%x%s' $(( 0x${hex:0:1} & 7 )) "${hex:1}"
}

# --- CA ---------------------------------------------------------------------------------------

CA_PEM=$OUTDIR/ca.pem
CA_KEY=$OUTDIR/ca.key

if [[ -e $CA_PEM || -e $CA_KEY ]]; then
    [[ -f $CA_PEM ]] || die "found $CA_KEY but not $CA_PEM; remove $CA_KEY or restore $CA_PEM"
    [[ -f $CA_KEY ]] || die "found $CA_PEM but not $CA_KEY; remove $CA_PEM or restore $CA_KEY"
    ossl "reading $CA_PEM" x509 -in "$CA_PEM" -noout -pubkey -out "$WORK/ca-cert.pub"
    ossl "reading $CA_KEY" pkey -in "$CA_KEY" -pubout -out "$WORK/ca-key.pub"
    cmp -s "$WORK/ca-cert.pub" "$WORK/ca-key.pub" \
        || die "$CA_KEY does not match $CA_PEM; remove both to make a new CA"
    openssl x509 -in "$CA_PEM" -noout -checkend 86400 >/dev/null 2>&1 \
        || die "CA $CA_PEM has expired or expires within a day; remove ca.pem and ca.key to make a new one"
    chmod 600 "$CA_KEY" || die "cannot chmod 600 $CA_KEY"
    echo "ca: reused $CA_PEM ($(openssl x509 -in "$CA_PEM" -noout -subject 2>/dev/null))"
else
    newkey "$WORK/ca.key"
    ossl "making the CA certificate" req -config "$WORK/req.cnf" -new -x509 -sha256 \
        -key "$WORK/ca.key" -subj "/CN=$CA_CN" -days "$CA_DAYS" -set_serial "$(serial)" \
        -extensions v3_ca -out "$WORK/ca.pem"
    chmod 644 "$WORK/ca.pem"
    mv -f -- "$WORK/ca.key" "$CA_KEY"
    mv -f -- "$WORK/ca.pem" "$CA_PEM"
    echo "ca: made $CA_PEM, $CA_KEY (CN=$CA_CN, $CA_DAYS days)"
fi

# --- leaves -----------------------------------------------------------------------------------

SERVER_PEMS=()
CLIENT_PEMS=()

# leaf NAME CN server|client: make OUTDIR/NAME.pem and OUTDIR/NAME.key signed by the CA.
leaf() {
    local name=$1 cn=$2 kind=$3 extra=""
    newkey "$WORK/$name.key"
    ossl "making the request for $name" req -config "$WORK/req.cnf" -new -sha256 \
        -key "$WORK/$name.key" -subj "/CN=$cn" -out "$WORK/$name.csr"
    ossl "signing $name.pem" x509 -req -in "$WORK/$name.csr" -sha256 \
        -CA "$CA_PEM" -CAkey "$CA_KEY" -set_serial "$(serial)" -days "$LEAF_DAYS" \
        -extfile "$WORK/ext.cnf" -extensions "$kind" -out "$WORK/$name.pem"
    chmod 644 "$WORK/$name.pem"
    mv -f -- "$WORK/$name.key" "$OUTDIR/$name.key"
    mv -f -- "$WORK/$name.pem" "$OUTDIR/$name.pem"
    if [[ $kind == server ]]; then
        SERVER_PEMS+=("$OUTDIR/$name.pem")
        extra=", $SERVER_SAN"
    else
        CLIENT_PEMS+=("$OUTDIR/$name.pem")
    fi
    echo "$name: made $OUTDIR/$name.pem, $OUTDIR/$name.key (CN=$cn, ${kind}Auth$extra)"
}

leaf relay "$RELAY_CN" server
leaf broker "$BROKER_CN" server
leaf relay-mqtt "$RELAY_CN" client

declare -A seen=()
for cn in ${DEVICES[@]+"${DEVICES[@]}"}; do
    [[ -z ${seen[device-$cn]+x} ]] || continue
    seen[device-$cn]=1
    leaf "device-$cn" "$cn" client
done
for cn in ${CLIENTS[@]+"${CLIENTS[@]}"}; do
    [[ -z ${seen[client-$cn]+x} ]] || continue
    seen[client-$cn]=1
    leaf "client-$cn" "$cn" client
done

# --- check ------------------------------------------------------------------------------------

verify() {   # purpose files...
    local purpose=$1
    shift
    if ! openssl verify -x509_strict -purpose "$purpose" -CAfile "$CA_PEM" "$@" >"$LOG" 2>&1; then
        printf '%s: error: openssl verify failed:\n' "$PROG" >&2
        sed 's/^/  /' "$LOG" >&2
        exit 1
    fi
}
verify sslserver "${SERVER_PEMS[@]}"
verify sslclient "${CLIENT_PEMS[@]}"
