#!/usr/bin/env bash
# demo.sh - show the tunnel core end to end on loopback, then clean up.
#
# Plays both ends of a secure tunnel on this machine: an sshd behind a destination localproxy
# ("the device"), a source localproxy ("the operator's PC") and tunnel-relay between them. Runs a
# command over ssh through the tunnel, then 10 parallel checksummed transfers, then stops
# everything. Without root or sshd it tunnels to a local echo service instead.
#
# Run by `make demo` after the build. Everything lives in a temporary directory that is removed
# on exit; process logs are kept there and shown only when something fails.
# BIN_DIR overrides where the binaries are (default: build/bin next to this script).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/build/bin}
STEPS=7
READY_TIMEOUT=10     # seconds to wait for each process's readiness line
STOP_TIMEOUT=3       # seconds between SIGTERM and SIGKILL
NTRANSFERS=10        # parallel connections (the relay's per-tunnel limit)
TRANSFER_MIB=8

WORK=""
PIDS=()              # long-running processes we started, in start order
declare -A NAME=()   # pid -> name, for messages
FAILED=0             # set once fail() has reported
T0=$(date +%s.%N)

say() { printf '[%2d/%d] %s\n' "$1" "$STEPS" "$2"; }

show_logs() {
    local f
    for f in "$@"; do
        [[ -s $WORK/$f ]] || continue
        printf -- '--- last lines of %s ---\n' "$f" >&2
        tail -n 15 -- "$WORK/$f" | sed 's/^/    /' >&2
    done
}

# fail MESSAGE [LOG...]: report, show the relevant logs, exit non-zero (cleanup runs on EXIT).
fail() {
    local msg=$1; shift
    printf 'demo: FAILED: %s\n' "$msg" >&2
    [[ -n $WORK ]] && show_logs "$@"
    FAILED=1
    exit 1
}

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# leaves ROOT [SKIP...]: the processes below ROOT that have no children of their own, not
# counting ROOT's subtrees under the SKIP processes (nor those).
leaves() {
    local ps_pid
    [[ -n $WORK && -d $WORK ]] || return 0
    ps -e -o pid= -o ppid= > "$WORK/.ps" 2> /dev/null &
    ps_pid=$!
    wait "$ps_pid" || return 0
    awk -v root="$1" -v skip="${*:2} $ps_pid" '
        BEGIN { n = split(skip, s, " "); for (i = 1; i <= n; i++) skipped[s[i]] = 1 }
        { parent[$1] = $2 }
        END {
            inside[root] = 1
            do {
                added = 0
                for (p in parent)
                    if (!(p in inside) && !(p in skipped) && (parent[p] in inside)) { inside[p] = 1; added = 1 }
            } while (added)
            for (p in inside) if (p != root) hasparent[parent[p]] = 1
            for (p in inside) if (p != root && !(p in hasparent)) print p
        }' "$WORK/.ps"
}

# stop_tree ROOT [SKIP...]: stop everything below ROOT (see leaves), leaves first, so that every
# parent is still there to reap its children and to see them go.
stop_tree() {
    local round batch=()
    for ((round = 0; round < 10; round++)); do
        mapfile -t batch < <(leaves "$@")
        (( ${#batch[@]} )) || return 0
        terminate "${batch[@]}"
    done
    mapfile -t batch < <(leaves "$@")
    (( ${#batch[@]} )) && kill -KILL "${batch[@]}" 2> /dev/null
    return 0
}

# terminate PID...: SIGTERM, then SIGKILL whatever is left after STOP_TIMEOUT seconds.
terminate() {
    local pid deadline left
    (( $# )) || return 0
    kill -TERM "$@" 2>/dev/null || true
    deadline=$(( $(date +%s) + STOP_TIMEOUT ))
    while :; do
        left=()
        for pid in "$@"; do alive "$pid" && left+=("$pid"); done
        (( ${#left[@]} )) || break
        if (( $(date +%s) >= deadline )); then
            kill -KILL "${left[@]}" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
}

cleanup() {
    local rc=$? pid
    trap - EXIT
    trap "" INT TERM   # a second Ctrl-C must not cut the cleanup short
    set +e
    if (( rc != 0 && ! FAILED )); then
        if (( rc == 130 || rc == 143 )); then
            echo "demo: interrupted, cleaning up" >&2
        else
            echo "demo: FAILED (exit status $rc)" >&2
            if [[ -n $WORK && -d $WORK ]]; then
                local logs=("$WORK"/*.log)
                [[ -e ${logs[0]} ]] && show_logs "${logs[@]#"$WORK"/}"
            fi
        fi
    fi
    # First the clients (transfers, ssh), then whatever the services still run (sshd's sessions),
    # then the services themselves.
    stop_tree $$ "${PIDS[@]}"
    for pid in "${PIDS[@]}"; do stop_tree "$pid"; done
    terminate "${PIDS[@]}"
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    [[ -n $WORK && -d $WORK ]] && rm -rf -- "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'trap "" INT TERM; exit 130' INT
trap 'trap "" INT TERM; exit 143' TERM

# start NAME LOG CMD...: run CMD in the background, output to LOG in the work dir.
start() {
    local name=$1 log=$2; shift 2
    "$@" > "$WORK/$log" 2>&1 < /dev/null &
    PIDS+=("$!")
    NAME[$!]=$name
    LAST_PID=$!
}

# wait_ready PID LOG PATTERN: wait for PATTERN in LOG while PID is alive.
wait_ready() {
    local pid=$1 log=$2 pattern=$3 deadline
    deadline=$(( $(date +%s) + READY_TIMEOUT ))
    until grep -q -- "$pattern" "$WORK/$log" 2>/dev/null; do
        alive "$pid" || fail "${NAME[$pid]} exited before it was ready" "$log"
        (( $(date +%s) < deadline )) || fail "${NAME[$pid]} not ready after ${READY_TIMEOUT}s" "$log"
        sleep 0.05
    done
}

# in_background OUT ERR CMD...: run CMD in the background, its output to the files OUT and ERR,
# and wait for it, so that a signal to this script is handled at once rather than when CMD ends.
in_background() {
    local out=$1 err=$2
    shift 2
    "$@" < /dev/null > "$out" 2> "$err" &
    wait "$!"
}

# stop PID LOG: SIGTERM, wait, and fail unless it exited with status 0.
stop() {
    local pid=$1 log=$2 rc=0
    terminate "$pid"
    wait "$pid" || rc=$?
    local p keep=()   # stopped and reaped: forget it, its pid may be reused
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    (( rc == 0 )) || fail "${NAME[$pid]} exited with status $rc after SIGTERM" "$log"
}

# free_ports N: N distinct free TCP ports on 127.0.0.1, chosen by the kernel.
free_ports() {
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# port_free PORT: nothing listens on 127.0.0.1:PORT (connections in TIME_WAIT do not count,
# as for any server socket with SO_REUSEADDR).
port_free() {
    python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(1)' "$1"
}

for prog in tunnel-relay localproxy; do
    [[ -x $BIN_DIR/$prog ]] || fail "$BIN_DIR/$prog not found; run 'make all' first"
done
for cmd in openssl python3; do
    command -v "$cmd" > /dev/null || fail "$cmd not found; run 'make deps' first"
done

# ---- 1. work dir and dev PKI -------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tunnel-demo.XXXXXX")
"$ROOT/certs/mkpki.sh" -o "$WORK/pki" > "$WORK/pki.log" 2>&1 || fail "mkpki.sh failed" pki.log
say 1 "dev PKI ready in $WORK/pki"

# ---- 2. tunnel: tokens and ports ---------------------------------------------------------------
SRC_TOKEN=$(openssl rand -hex 32)
DST_TOKEN=$(openssl rand -hex 32)
read -r RELAY_PORT DEV_PORT SRC_FALLBACK < <(free_ports 3)
if port_free 2222; then
    SRC_PORT=2222
    note=""
else
    SRC_PORT=$SRC_FALLBACK
    note=" (2222 is taken, using $SRC_PORT instead)"
fi
(umask 077; printf '{"tunnels":[{"id":"demo","services":["SSH"],"sourceAccessToken":"%s","destinationAccessToken":"%s"}]}\n' \
    "$SRC_TOKEN" "$DST_TOKEN" > "$WORK/tunnels.json")
say 2 "tunnel \"demo\" with two random access tokens (not shown): relay port $RELAY_PORT, source port $SRC_PORT$note"

# ---- 3. the device's service: sshd, or an echo server -----------------------------------------
MODE=ssh
why=""
if (( EUID != 0 )); then
    why="not running as root"
elif [[ ! -x /usr/sbin/sshd ]]; then
    why="/usr/sbin/sshd not found"
elif ! command -v ssh > /dev/null || ! command -v ssh-keygen > /dev/null; then
    why="ssh or ssh-keygen not found"
fi
if [[ -z $why ]]; then
    mkdir -p /run/sshd
    ssh-keygen -q -t ed25519 -N '' -C demo-host -f "$WORK/host_key" > /dev/null
    ssh-keygen -q -t ed25519 -N '' -C demo-client -f "$WORK/client_key" > /dev/null
    cp "$WORK/client_key.pub" "$WORK/authorized_keys"
    cat > "$WORK/sshd_config" <<EOF
Port $DEV_PORT
ListenAddress 127.0.0.1
HostKey $WORK/host_key
AuthorizedKeysFile $WORK/authorized_keys
PidFile $WORK/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
PrintMotd no
MaxStartups 100
MaxSessions 100
EOF
    /usr/sbin/sshd -t -f "$WORK/sshd_config" > "$WORK/sshd-check.log" 2>&1 \
        || why="sshd rejects its config: $(head -n 1 "$WORK/sshd-check.log")"
fi
if [[ -z $why ]]; then
    start sshd sshd.log /usr/sbin/sshd -D -e -f "$WORK/sshd_config"
    DEV_PID=$LAST_PID DEV_LOG=sshd.log DEV_NAME=sshd
    wait_ready "$DEV_PID" sshd.log "Server listening on 127.0.0.1 port $DEV_PORT"
    say 3 "the device's sshd is listening on 127.0.0.1:$DEV_PORT (throwaway host and client keys)"
else
    MODE="echo"
    echo "demo: cannot run sshd ($why); tunnelling to an echo service instead"
    cat > "$WORK/echo_server.py" <<'EOF'
import socketserver, sys
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(65536):
            self.request.sendall(data)
class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
with Server(("127.0.0.1", int(sys.argv[1])), Echo) as srv:
    print("echo server listening on 127.0.0.1 port", sys.argv[1], flush=True)
    srv.serve_forever()
EOF
    start "echo server" echo.log python3 "$WORK/echo_server.py" "$DEV_PORT"
    DEV_PID=$LAST_PID DEV_LOG=echo.log DEV_NAME="echo server"
    wait_ready "$DEV_PID" echo.log "listening on"
    say 3 "the device's echo service is listening on 127.0.0.1:$DEV_PORT"
fi

# ---- 4. relay, destination ("the device") and source ("the operator's PC") --------------------
start tunnel-relay relay.log "$BIN_DIR/tunnel-relay" --bind 127.0.0.1 --port "$RELAY_PORT" \
    --cert "$WORK/pki/relay.pem" --key "$WORK/pki/relay.key" --tunnels "$WORK/tunnels.json"
RELAY_PID=$LAST_PID
wait_ready "$RELAY_PID" relay.log "listening on"

AWSIOT_TUNNEL_ACCESS_TOKEN=$DST_TOKEN start "destination localproxy" destination.log \
    "$BIN_DIR/localproxy" -d "127.0.0.1:$DEV_PORT" -e "127.0.0.1:$RELAY_PORT" -c "$WORK/pki/ca.pem"
DST_PID=$LAST_PID
wait_ready "$DST_PID" destination.log "tunnel ready"

AWSIOT_TUNNEL_ACCESS_TOKEN=$SRC_TOKEN start "source localproxy" source.log \
    "$BIN_DIR/localproxy" -s "$SRC_PORT" -b 127.0.0.1 -e "127.0.0.1:$RELAY_PORT" -c "$WORK/pki/ca.pem"
SRC_PID=$LAST_PID
wait_ready "$SRC_PID" source.log "tunnel ready"
unset SRC_TOKEN DST_TOKEN
say 4 "tunnel up: :$SRC_PORT source localproxy => :$RELAY_PORT tunnel-relay => destination localproxy => :$DEV_PORT $DEV_NAME"

TUNNEL_LOGS=(source.log relay.log destination.log "$DEV_LOG")
SSH=(ssh -F /dev/null -p "$SRC_PORT" -i "$WORK/client_key" -o IdentitiesOnly=yes
     -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
     -o BatchMode=yes -o ConnectTimeout=10 root@127.0.0.1)

# ---- 5. one command through the tunnel ---------------------------------------------------------
if [[ $MODE == ssh ]]; then
    say 5 "ssh -p $SRC_PORT root@127.0.0.1 through the tunnel says:"
    # shellcheck disable=SC2016  # expanded on the far side
    in_background "$WORK/ssh.out" "$WORK/ssh.log" \
        timeout 30 "${SSH[@]}" 'echo "hello from $(hostname) via the tunnel"; uname -sr' \
        || fail "ssh through the tunnel failed" ssh.log "${TUNNEL_LOGS[@]}"
else
    say 5 "a line sent to 127.0.0.1:$SRC_PORT comes back through the tunnel as:"
    in_background "$WORK/ssh.out" "$WORK/ssh.log" timeout 30 python3 -c '
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as s:
    line = b"hello from the operator via the tunnel\n"
    s.sendall(line)
    got = b""
    while len(got) < len(line):
        chunk = s.recv(4096)
        if not chunk: break
        got += chunk
sys.stdout.write(got.decode())
sys.exit(0 if got == line else 1)' "$SRC_PORT" \
        || fail "the echo through the tunnel failed" ssh.log "${TUNNEL_LOGS[@]}"
fi
sed 's/^/        /' "$WORK/ssh.out"

# ---- 6. parallel transfers ---------------------------------------------------------------------
if [[ $MODE == echo ]]; then
    cat > "$WORK/echo_client.py" <<'EOF'
# Sends SIZE random bytes and reads them back at the same time. No half-close: the tunnel
# protocol has none, so a local EOF closes the tunnelled connection (as with AWS's localproxy).
import hashlib, os, socket, sys, threading
port, size = int(sys.argv[1]), int(sys.argv[2])
data = os.urandom(size)
back, got = hashlib.sha256(), 0
with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
    t = threading.Thread(target=s.sendall, args=(data,))
    t.start()
    while got < size and (chunk := s.recv(65536)):
        back.update(chunk)
        got += len(chunk)
    t.join()
print(hashlib.sha256(data).hexdigest(), back.hexdigest())
EOF
fi

transfer() {   # transfer N: writes t-N.sums ("LOCAL REMOTE"), errors to t-N.log
    local n=$1 local_sum remote_sum
    if [[ $MODE == ssh ]]; then
        # The local checksum reads a copy of the stream through its own descriptor, so that
        # this shell can wait for it (a >(...) inside the pipeline would belong to tee's subshell).
        local sum_fd sum_pid
        exec {sum_fd}> >(sha256sum > "$WORK/t-$n.local")
        sum_pid=$!
        head -c "${TRANSFER_MIB}M" /dev/urandom {sum_fd}>&- \
            | tee "/dev/fd/$sum_fd" \
            | timeout 120 "${SSH[@]}" sha256sum > "$WORK/t-$n.remote" 2> "$WORK/t-$n.log" {sum_fd}>&-
        exec {sum_fd}>&-
        wait "$sum_pid"
        read -r local_sum _ < "$WORK/t-$n.local"
        read -r remote_sum _ < "$WORK/t-$n.remote"
        echo "$local_sum $remote_sum" > "$WORK/t-$n.sums"
    else
        timeout 120 python3 "$WORK/echo_client.py" "$SRC_PORT" $((TRANSFER_MIB << 20)) \
            > "$WORK/t-$n.sums" 2> "$WORK/t-$n.log"
    fi
}

what="$TRANSFER_MIB MiB of random data each into sha256sum over ssh"
[[ $MODE == echo ]] && what="$TRANSFER_MIB MiB of random data each through the echo service and back"
say 6 "$NTRANSFERS parallel transfers through the same tunnel, $what:"
t_start=$(date +%s.%N)
declare -A TPID=()
for ((i = 1; i <= NTRANSFERS; i++)); do
    transfer "$i" 2> "$WORK/t-$i.sh.log" &
    TPID[$i]=$!
done
ok=0
bad=0
for ((i = 1; i <= NTRANSFERS; i++)); do
    rc=0
    wait "${TPID[$i]}" || rc=$?
    local_sum="" remote_sum=""
    [[ -s $WORK/t-$i.sums ]] && read -r local_sum remote_sum < "$WORK/t-$i.sums"
    if (( rc == 0 )) && [[ -n $local_sum && $local_sum == "$remote_sum" ]]; then
        verdict=OK
        ok=$((ok + 1))
    else
        verdict=MISMATCH
        (( rc == 0 )) || verdict="MISMATCH (transfer failed, status $rc)"
        bad=$((bad + 1))
        cat -- "$WORK/t-$i.log" "$WORK/t-$i.sh.log" 2> /dev/null | tail -n 3 | sed "s/^/        transfer $i: /"
    fi
    printf '        transfer %2d: local %.12s  remote %.12s  %s\n' \
        "$i" "${local_sum:--}" "${remote_sum:--}" "$verdict"
done
elapsed=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
total_mib=$(( NTRANSFERS * TRANSFER_MIB ))
if (( bad )); then
    fail "$bad of $NTRANSFERS transfers did not come back intact" "${TUNNEL_LOGS[@]}"
fi
printf '        all %d transfers intact: %d MiB in %ss\n' "$ok" "$total_mib" "$elapsed"

# ---- 7. stop -----------------------------------------------------------------------------------
stop "$SRC_PID" source.log
stop "$DST_PID" destination.log
stop "$RELAY_PID" relay.log
say 7 "source and destination localproxy and tunnel-relay stopped on SIGTERM, each with exit status 0"

total=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "demo: OK in ${total}s; the device's $DEV_NAME and the work dir are removed on exit"
