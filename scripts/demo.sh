#!/usr/bin/env bash
# demo.sh - the whole system end to end on loopback, then clean up.
#
# Plays every part on this machine: a mosquitto broker (TLS with client certificates, the
# per-thing ACL from packaging/mosquitto/), tunnel-relay (tunnels in SQLite, management API, MQTT
# notifications), an sshd and tunnel-agent as "the device" demo-nanopi, and tunnelctl, localproxy
# and ssh as "the operator's PC". Opens a tunnel with tunnelctl (the agent is notified over MQTT
# and starts the destination localproxy), runs a command over ssh through it, then 10 parallel
# checksummed transfers through the same tunnel, closes it, and stops everything. Without root or
# sshd it tunnels to a local echo service instead.
#
# Run by `make demo` after `make deps` and the build. Everything lives in a temporary directory
# that is removed on exit, also on Ctrl-C or failure; process logs are kept there and shown only
# when something fails. Every process the demo starts has TUNNEL_DEMO=<that directory> in its
# environment, so that it can be told from other runs' processes (the agent gives its localproxy
# a clean environment: that one has the directory in its command line, in -c DIR/pki/ca.pem).
# BIN_DIR overrides where the binaries are (default: build/bin next to this script).
#
# --console (`make demo-console`): the same system with the relay's web console on (a users file
# with a one-time admin password, the audit log, terminal recordings, the tree's console/), and the
# device's sshd also taking a throwaway user "demo" with a one-time password; after step 5 it
# prints the console's URL and both passwords and keeps everything running until Ctrl-C.
set -euo pipefail

CONSOLE=0
case "${1:-}" in
    "") ;;
    --console) CONSOLE=1 ;;
    *) echo "usage: $0 [--console]" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/build/bin}
STEPS=13
(( CONSOLE )) && STEPS=6
THING=demo-nanopi
READY_TIMEOUT=10     # seconds to wait for each process's readiness line
STOP_TIMEOUT=3       # seconds between SIGTERM and SIGKILL
NTRANSFERS=10        # parallel connections (the relay's per-tunnel limit)
TRANSFER_MIB=8

WORK=""
PIDS=()              # long-running processes we started, in start order
declare -A NAME=()   # pid -> name, for messages
FAILED=0             # set once fail() has reported
SERVING=0            # --console: set while the system waits for Ctrl-C
STOPPED=()           # "NAME STATUS" of each service stopped by stop()
T0=$(date +%s.%N)

say() { printf '[%2d/%d] %s\n' "$1" "$STEPS" "$2"; }
detail() { printf '        %s\n' "$@"; }

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
# counting ROOT's subtrees under the SKIP processes (nor those), nor this function's own
# processes (it runs in a subshell, as in <(leaves ...)), nor zombies (their parent reaps them).
leaves() {
    local ps_pid
    [[ -n $WORK && -d $WORK ]] || return 0
    ps -e -o pid= -o ppid= -o stat= > "$WORK/.ps" 2> /dev/null &
    ps_pid=$!
    wait "$ps_pid" || return 0
    awk -v root="$1" -v skip="${*:2} $ps_pid $BASHPID" '
        BEGIN { n = split(skip, s, " "); for (i = 1; i <= n; i++) skipped[s[i]] = 1 }
        $3 !~ /^Z/ { parent[$1] = $2 }
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
    local rc=$? pid i
    trap - EXIT
    trap "" INT TERM   # a second Ctrl-C must not cut the cleanup short
    set +e
    if (( SERVING && (rc == 130 || rc == 143) )); then
        echo "demo: stopping everything"
        rc=0
    elif (( rc != 0 && ! FAILED )); then
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
    # First the clients (tunnelctl, transfers, ssh), then whatever the services still run (sshd's
    # sessions, the agent's localproxy), then the services themselves, the last started first.
    stop_tree $$ "${PIDS[@]}"
    for pid in "${PIDS[@]}"; do stop_tree "$pid"; done
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do terminate "${PIDS[i]}"; done
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

# wait_log PID LOG PATTERN [WHAT] [LOG...]: wait for the regular expression PATTERN in LOG while
# PID is alive; on failure show LOG and the other LOGs.
wait_log() {
    local pid=$1 log=$2 pattern=$3 what=${4:-ready} deadline
    deadline=$(( $(date +%s) + READY_TIMEOUT ))
    until grep -q -E -- "$pattern" "$WORK/$log" 2>/dev/null; do
        alive "$pid" || fail "${NAME[$pid]} exited before it was $what" "$log" "${@:5}"
        (( $(date +%s) < deadline )) || fail "${NAME[$pid]} not $what after ${READY_TIMEOUT}s" "$log" "${@:5}"
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

# forget PID: it has been reaped, and its pid may be reused.
forget() {
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# stop PID LOG [OK...]: SIGTERM, wait, and fail unless it exited with status 0 (or one of OK).
stop() {
    local pid=$1 log=$2 rc=0 ok
    terminate "$pid"
    wait "$pid" || rc=$?
    forget "$pid"
    STOPPED+=("${NAME[$pid]} $rc")
    for ok in 0 "${@:3}"; do (( rc == ok )) && return 0; done
    fail "${NAME[$pid]} exited with status $rc after SIGTERM" "$log"
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

# tunnelctl ARGS...: the operator's CLI against our relay, its output in tunnelctl.out and
# tunnelctl.log. The API key travels in the environment, as tunnelctl --help advises.
tunnelctl() {
    TUNNEL_API_URL="https://127.0.0.1:$RELAY_PORT" TUNNEL_API_CA="$WORK/pki/ca.pem" \
    TUNNEL_API_KEY="$API_KEY" \
        in_background "$WORK/tunnelctl.out" "$WORK/tunnelctl.log" timeout 30 "$BIN_DIR/tunnelctl" "$@"
}

# demo_login_user (--console): the device's sshd also takes the user "demo" with a one-time
# password, so that a browser terminal can sign in with a password. The account exists only for
# that sshd: it runs in a private mount namespace where copies of /etc/passwd and /etc/shadow with
# the extra line are bind-mounted over the real ones, which are never touched. Without unshare
# the terminal can still sign in as root with the demo's private key (pasted into the form).
demo_login_user() {
    local crypted
    DEMO_PASSWORD=""
    command -v unshare > /dev/null || return 0
    DEMO_PASSWORD=$(openssl rand -base64 12 | tr -d '/+=' | cut -c1-12)
    crypted=$(printf '%s\n' "$DEMO_PASSWORD" | openssl passwd -6 -stdin) \
        || fail "openssl passwd failed"
    mkdir -p "$WORK/home"
    chown 4242:4242 "$WORK/home"
    chmod 711 "$WORK"
    { cat /etc/passwd; echo "demo:x:4242:4242:console demo:$WORK/home:/bin/bash"; } > "$WORK/passwd"
    (umask 077; { cat /etc/shadow 2> /dev/null; echo "demo:$crypted:19000:0:99999:7:::"; } > "$WORK/shadow")
    sed -i 's/^PasswordAuthentication no$/PasswordAuthentication yes/' "$WORK/sshd_config"
    # shellcheck disable=SC2016  # expanded by the inner shell
    SSHD=(unshare --mount --propagation private /bin/sh -c \
          'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/shadow && shift 2 && exec "$@"' \
          sshd-ns "$WORK/passwd" "$WORK/shadow" "${SSHD[@]}")
}

# serve_console (--console): say how to reach the console, then keep everything running until
# Ctrl-C (the EXIT trap stops it all).
serve_console() {
    say 6 "the web console is on; everything keeps running until Ctrl-C"
    echo
    echo "    Console:   https://localhost:$RELAY_PORT/console/"
    echo "    Sign in:   admin / $ADMIN_PASSWORD   (a one-time password, made for this run)"
    if [[ $MODE == ssh && -n ${DEMO_PASSWORD:-} ]]; then
        echo "    Device:    $THING; in its Terminal sign in as demo / $DEMO_PASSWORD"
    elif [[ $MODE == ssh ]]; then
        echo "    Device:    $THING; in its Terminal sign in as root with the private key $WORK/client_key"
    else
        echo "    Device:    $THING (no sshd on this machine: no terminal, tunnels still open)"
    fi
    echo
    echo "    The relay's certificate comes from the demo's own CA ($WORK/pki/ca.pem): accept the"
    echo "    browser's warning or import that CA. From another machine: ssh -L $RELAY_PORT:localhost:$RELAY_PORT"
    echo "    Audit log: $WORK/audit.jsonl   Recordings: $WORK/recordings/"
    unset ADMIN_PASSWORD DEMO_PASSWORD
    SERVING=1
    # Ctrl-C reaches the relay too (it handles SIGINT itself): a service found gone is a failure
    # only if no Ctrl-C comes within a second (the trap runs during the wait).
    while :; do
        sleep 1 &
        wait "$!"
        alive "$RELAY_PID" && alive "$AGENT_PID" && continue
        sleep 1 &
        wait "$!"
        alive "$RELAY_PID" || fail "tunnel-relay exited" relay.log
        fail "tunnel-agent exited" agent.log
    done
}

for prog in tunnel-relay localproxy tunnel-agent tunnelctl; do
    [[ -x $BIN_DIR/$prog ]] || fail "$BIN_DIR/$prog not found; run 'make all' first"
done
for cmd in openssl python3; do
    command -v "$cmd" > /dev/null || fail "$cmd not found; run 'make deps' first"
done
MOSQUITTO=$(PATH=$PATH:/usr/sbin:/sbin command -v mosquitto) \
    || fail "mosquitto not found; run 'make deps' first"
if (( CONSOLE )); then
    [[ -f $ROOT/console/node_modules/@xterm/xterm/lib/xterm.js ]] \
        || fail "console/node_modules/ has no xterm.js; run 'make console-assets' first"
fi

# ---- 1. work dir and dev PKI -------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tunnel-demo.XXXXXX")
export TUNNEL_DEMO=$WORK     # the tag of every process started from here on
"$ROOT/certs/mkpki.sh" -o "$WORK/pki" --device "$THING" > "$WORK/pki.log" 2>&1 \
    || fail "mkpki.sh failed" pki.log
(umask 077; openssl rand -hex 32 > "$WORK/api.key")
API_KEY=$(< "$WORK/api.key")
read -r MQTT_PORT RELAY_PORT DEV_PORT SRC_FALLBACK < <(free_ports 4)
say 1 "dev PKI (CA, relay, broker, thing $THING) and an API key in $WORK"
CONSOLE_ARGS=()
if (( CONSOLE )); then
    # The one admin, with a password made by the relay and printed once (kept in a variable
    # until it is shown at the end of the start-up, never in a file).
    : > "$WORK/console-users"
    ADMIN_PASSWORD=$("$BIN_DIR/tunnel-relay" adduser --users "$WORK/console-users" admin admin \
        --random 2> "$WORK/adduser.log" < /dev/null) || fail "tunnel-relay adduser failed" adduser.log
    [[ -n $ADMIN_PASSWORD ]] || fail "tunnel-relay adduser --random printed no password" adduser.log
    mkdir -p "$WORK/recordings"
    CONSOLE_ARGS=(--users "$WORK/console-users" --audit-log "$WORK/audit.jsonl"
                  --recordings "$WORK/recordings" --console-dir "$ROOT/console"
                  --console-ca "$WORK/pki/ca.pem")
    detail "console user admin (role admin) in $WORK/console-users"
fi

# ---- 2. mosquitto ------------------------------------------------------------------------------
# The shipped configuration and ACL, with our port, address and files (as tests/e2e/test_mqtt.py).
cp "$ROOT/packaging/mosquitto/acl" "$WORK/acl"
{
    # As root, mosquitto would switch to the user "mosquitto", who cannot read the 0600 keys.
    (( EUID == 0 )) && echo "user root"
    echo "persistence false"
    echo "log_dest stderr"
    echo "log_type all"
    echo "connection_messages true"
    awk -v port="$MQTT_PORT" -v pki="$WORK/pki" -v acl="$WORK/acl" '
        $1 == "listener" { n++; print "listener " port " 127.0.0.1"; next }
        $1 == "cafile"   { print "cafile " pki "/ca.pem"; next }
        $1 == "certfile" { print "certfile " pki "/broker.pem"; next }
        $1 == "keyfile"  { print "keyfile " pki "/broker.key"; next }
        $1 == "acl_file" { print "acl_file " acl; next }
        { print }
        END { if (n != 1) { print "expected 1 listener line, found " n > "/dev/stderr"; exit 1 } }
    ' "$ROOT/packaging/mosquitto/mosquitto.conf"
} > "$WORK/mosquitto.conf" 2> "$WORK/mosquitto-conf.log" \
    || fail "cannot adapt packaging/mosquitto/mosquitto.conf" mosquitto-conf.log
start mosquitto mosquitto.log "$MOSQUITTO" -c "$WORK/mosquitto.conf"
MQTT_PID=$LAST_PID
wait_log "$MQTT_PID" mosquitto.log "Opening ipv4 listen socket on port $MQTT_PORT"
wait_log "$MQTT_PID" mosquitto.log "mosquitto version .* running"
say 2 "mosquitto on 127.0.0.1:$MQTT_PORT: TLS, client certificates only, per-thing ACL"

# ---- 3. tunnel-relay ---------------------------------------------------------------------------
start tunnel-relay relay.log "$BIN_DIR/tunnel-relay" --bind 127.0.0.1 --port "$RELAY_PORT" \
    --cert "$WORK/pki/relay.pem" --key "$WORK/pki/relay.key" \
    --db "$WORK/tunnels.db" --api-key-file "$WORK/api.key" \
    --mqtt-uri "ssl://localhost:$MQTT_PORT" --mqtt-ca "$WORK/pki/ca.pem" \
    --mqtt-cert "$WORK/pki/relay-mqtt.pem" --mqtt-key "$WORK/pki/relay-mqtt.key" \
    --public-endpoint "127.0.0.1:$RELAY_PORT" "${CONSOLE_ARGS[@]}"
RELAY_PID=$LAST_PID
wait_log "$RELAY_PID" relay.log "listening on"
wait_log "$RELAY_PID" relay.log "MQTT: connected to broker" "connected to the broker" mosquitto.log
say 3 "tunnel-relay on 127.0.0.1:$RELAY_PORT: tunnels in SQLite, management API, MQTT client"

# ---- 4. the device's service: sshd, or an echo server -----------------------------------------
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
SSHD=(/usr/sbin/sshd -D -e -f "$WORK/sshd_config")
if [[ -z $why ]] && (( CONSOLE )); then
    demo_login_user
fi
if [[ -z $why ]]; then
    SERVICE=SSH
    start sshd sshd.log "${SSHD[@]}"
    DEV_PID=$LAST_PID DEV_LOG=sshd.log
    DEV_STOP_OK=255   # older sshds exit with 255 on SIGTERM
    wait_log "$DEV_PID" sshd.log "Server listening on 127.0.0.1 port $DEV_PORT"
    say 4 "the device's sshd on 127.0.0.1:$DEV_PORT (throwaway host and client keys)"
else
    MODE="echo"
    SERVICE=ECHO
    echo "demo: cannot run sshd ($why); tunnelling to an echo service instead"
    cat > "$WORK/echo_server.py" <<'EOF'
import signal, socketserver, sys
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(65536):
            self.request.sendall(data)
class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with Server(("127.0.0.1", int(sys.argv[1])), Echo) as srv:
    print("echo server listening on 127.0.0.1 port", sys.argv[1], flush=True)
    srv.serve_forever()
EOF
    start "echo server" echo.log python3 "$WORK/echo_server.py" "$DEV_PORT"
    DEV_PID=$LAST_PID DEV_LOG=echo.log
    DEV_STOP_OK=0
    wait_log "$DEV_PID" echo.log "listening on"
    say 4 "the device's echo service on 127.0.0.1:$DEV_PORT"
fi

# ---- 5. tunnel-agent: the device -------------------------------------------------------------
python3 - "$WORK/agent.json" "$THING" "$MQTT_PORT" "$WORK/pki" "$RELAY_PORT" \
    "$BIN_DIR/localproxy" "$SERVICE" "$DEV_PORT" <<'EOF'
import json, sys
path, thing, mqtt_port, pki, relay_port, localproxy, service, dev_port = sys.argv[1:]
conf = {
    "thingName": thing,
    "broker": {"uri": "ssl://localhost:%s" % mqtt_port, "ca": pki + "/ca.pem",
               "cert": "%s/device-%s.pem" % (pki, thing), "key": "%s/device-%s.key" % (pki, thing)},
    "relay": {"endpoint": "127.0.0.1:%s" % relay_port, "ca": pki + "/ca.pem"},
    "localproxy": localproxy,
    "services": {service: "127.0.0.1:%s" % dev_port},
}
with open(path, "w") as f:
    json.dump(conf, f, indent=2)
EOF
"$BIN_DIR/tunnel-agent" -c "$WORK/agent.json" --check > "$WORK/agent-check.log" 2>&1 \
    || fail "tunnel-agent --check refuses its configuration" agent-check.log
start tunnel-agent agent.log "$BIN_DIR/tunnel-agent" -c "$WORK/agent.json"
AGENT_PID=$LAST_PID
wait_log "$AGENT_PID" agent.log "subscribed to " "subscribed" mosquitto.log
say 5 "tunnel-agent, the device $THING, subscribed to \$aws/things/$THING/tunnels/notify"
(( CONSOLE )) && serve_console

# ---- 6. tunnelctl open -------------------------------------------------------------------------
# --json, because that answer has the source token in a form a script can take; the token goes
# to a private file and a variable, never to the screen.
tunnelctl --json open --thing "$THING" --service "$SERVICE" --lifetime 10 \
    || fail "tunnelctl open failed" tunnelctl.log relay.log
mv "$WORK/tunnelctl.out" "$WORK/open.json"
{ read -r TUNNEL_ID; read -r SRC_TOKEN; read -r NOTIFIED; } < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
n = d.get("notification") or {}
print(d["tunnelId"])
print(d["sourceAccessToken"])
print("%s (%s)" % ("yes" if n.get("delivered") else "no", n.get("detail", "")))' "$WORK/open.json") \
    || fail "cannot read tunnelctl's answer" tunnelctl.log
rm -f -- "$WORK/open.json"
say 6 "tunnelctl open --thing $THING --service $SERVICE --lifetime 10: tunnel $TUNNEL_ID"
detail "Device notified over MQTT: $NOTIFIED"
[[ $NOTIFIED == yes* ]] || fail "the relay could not notify the device" relay.log mosquitto.log

# ---- 7. the agent's destination localproxy ----------------------------------------------------
wait_log "$AGENT_PID" agent.log "notification accepted for tunnel $TUNNEL_ID" \
    "notified" mosquitto.log relay.log
AGENT_LP=$(grep -o -E "notification accepted for tunnel $TUNNEL_ID .*started localproxy pid [0-9]+" \
    "$WORK/agent.log" | grep -o -E '[0-9]+$' | head -n 1) || true
deadline=$(( $(date +%s) + READY_TIMEOUT ))
until grep -q -F "tunnel $TUNNEL_ID: destination connected" "$WORK/relay.log"; do
    if grep -q -F "localproxy for tunnel $TUNNEL_ID exited" "$WORK/agent.log"; then
        fail "the agent's localproxy exited before it connected to the relay" agent.log relay.log
    fi
    alive "$AGENT_PID" || fail "tunnel-agent exited" agent.log
    alive "$RELAY_PID" || fail "tunnel-relay exited" relay.log
    (( $(date +%s) < deadline )) \
        || fail "the agent's localproxy not connected after ${READY_TIMEOUT}s" agent.log relay.log
    sleep 0.05
done
say 7 "the agent started localproxy${AGENT_LP:+ pid $AGENT_LP} (-d $SERVICE=127.0.0.1:$DEV_PORT): destination connected"

# ---- 8. the source localproxy on the operator's PC --------------------------------------------
if port_free 2222; then
    SRC_PORT=2222
    note=""
else
    SRC_PORT=$SRC_FALLBACK
    note=" (2222 is taken)"
fi
# This is `localproxy -s PORT -t TOKEN`, with the token in AWSIOT_TUNNEL_ACCESS_TOKEN instead of
# -t: a token on a command line is visible to every local user in ps (localproxy wipes it from
# its argv, but only once it runs), while the environment is readable by its owner only.
AWSIOT_TUNNEL_ACCESS_TOKEN=$SRC_TOKEN start "source localproxy" source.log \
    "$BIN_DIR/localproxy" -s "$SRC_PORT" -b 127.0.0.1 -e "127.0.0.1:$RELAY_PORT" -c "$WORK/pki/ca.pem"
SRC_PID=$LAST_PID
unset SRC_TOKEN
wait_log "$SRC_PID" source.log "tunnel ready" ready relay.log
say 8 "the operator's localproxy -s $SRC_PORT$note, source token in its environment: connected"

TUNNEL_LOGS=(source.log relay.log agent.log "$DEV_LOG")
SSH=(ssh -F /dev/null -p "$SRC_PORT" -i "$WORK/client_key" -o IdentitiesOnly=yes
     -o AddressFamily=inet -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
     -o LogLevel=ERROR -o BatchMode=yes -o ConnectTimeout=10 localhost)

# ---- 9. one command through the tunnel ---------------------------------------------------------
if [[ $MODE == ssh ]]; then
    say 9 "ssh -p $SRC_PORT localhost through the tunnel says:"
    # shellcheck disable=SC2016  # expanded on the far side
    in_background "$WORK/ssh.out" "$WORK/ssh.log" \
        timeout 30 "${SSH[@]}" 'echo "hello from $(hostname) via the tunnel"; uname -sr' \
        || fail "ssh through the tunnel failed" ssh.log "${TUNNEL_LOGS[@]}"
else
    say 9 "a line sent to 127.0.0.1:$SRC_PORT comes back through the tunnel as:"
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

# ---- 10. parallel transfers --------------------------------------------------------------------
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

# The connection of step 9 must be gone from the relay's count before 10 more may start.
deadline=$(( $(date +%s) + READY_TIMEOUT ))
while :; do
    tunnelctl --json describe "$TUNNEL_ID" || fail "tunnelctl describe failed" tunnelctl.log
    live=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["tunnel"]["liveConnections"])' \
        "$WORK/tunnelctl.out") || fail "cannot read tunnelctl's answer" tunnelctl.log
    (( live == 0 )) && break
    (( $(date +%s) < deadline )) || fail "the tunnel still has $live live connections" "${TUNNEL_LOGS[@]}"
    sleep 0.05
done

what="$TRANSFER_MIB MiB of random data each into sha256sum over ssh"
[[ $MODE == echo ]] && what="$TRANSFER_MIB MiB of random data each through the echo service and back"
say 10 "$NTRANSFERS parallel transfers through the same tunnel, $what:"
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
detail "all $ok transfers intact: $total_mib MiB in ${elapsed}s"

# ---- 11. tunnelctl close -----------------------------------------------------------------------
tunnelctl close "$TUNNEL_ID" || fail "tunnelctl close failed" tunnelctl.log relay.log
# The relay sends both localproxies a close frame; each exits with status 0.
wait_log "$AGENT_PID" agent.log "localproxy for tunnel $TUNNEL_ID exited with status" \
    "told of its localproxy's exit" relay.log
agent_line=$(grep -F "localproxy for tunnel $TUNNEL_ID exited with status" "$WORK/agent.log" | tail -n 1)
agent_line=${agent_line#* tunnel-agent INFO }   # without the time stamp and level,
agent_line=${agent_line%% \[*}                   # and without "[pid N, ran N s; ...]"
[[ $agent_line == *"exited with status 0" ]] \
    || fail "the agent's localproxy did not exit with status 0" agent.log relay.log
deadline=$(( $(date +%s) + READY_TIMEOUT ))
while alive "$SRC_PID"; do
    (( $(date +%s) < deadline )) || fail "the source localproxy still runs after the close" source.log relay.log
    sleep 0.05
done
rc=0
wait "$SRC_PID" || rc=$?
forget "$SRC_PID"
(( rc == 0 )) || fail "the source localproxy exited with status $rc after the close" source.log relay.log
tunnelctl describe "$TUNNEL_ID" || fail "tunnelctl describe failed" tunnelctl.log
status=$(awk '$1 == "Status:" { print $2 }' "$WORK/tunnelctl.out")
[[ $status == CLOSED ]] || fail "tunnelctl describe says status '$status', not CLOSED" tunnelctl.out relay.log
say 11 "tunnelctl close: both localproxies exited with status 0, tunnelctl describe says CLOSED"
detail "tunnel-agent: $agent_line"

# ---- 12. one command to a shell: tunnelctl ssh --------------------------------------------------
if [[ $MODE == ssh ]]; then
    # tunnelctl opens a tunnel of its own, waits for the device, runs the system's ssh with
    # `localproxy --stdio` as its ProxyCommand (the source token only in that child's
    # environment), and closes the tunnel when ssh exits, returning ssh's status.
    tunnelctl ssh "$THING" -F /dev/null -i "$WORK/client_key" -o IdentitiesOnly=yes \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o BatchMode=yes -- uname -a \
        || fail "tunnelctl ssh $THING -- uname -a failed" tunnelctl.log relay.log agent.log
    say 12 "tunnelctl ssh $THING -- uname -a (a tunnel of its own, opened and closed):"
    sed 's/^/        /' "$WORK/tunnelctl.out"
    closed=$(grep -c -E "tunnel [^ ]+ closed by the API" "$WORK/relay.log" || true)
    (( closed >= 2 )) || fail "tunnelctl ssh left its tunnel open" tunnelctl.log relay.log
else
    say 12 "tunnelctl ssh $THING -- uname -a: skipped (no sshd on this machine)"
fi

# ---- 13. stop ----------------------------------------------------------------------------------
stop "$AGENT_PID" agent.log
stop "$RELAY_PID" relay.log
stop "$DEV_PID" "$DEV_LOG" "$DEV_STOP_OK"
stop "$MQTT_PID" mosquitto.log
statuses=$(printf '%s, ' "${STOPPED[@]}")
say 13 "stopped with SIGTERM, exit statuses: ${statuses%, }"

total=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "demo: OK in ${total}s; the work dir is removed on exit"
echo "demo: to see the same system in the web console (devices, tunnels, SSH in the browser):"
echo "      make demo-console   (prints the URL and a one-time admin password; Ctrl-C stops it)"
