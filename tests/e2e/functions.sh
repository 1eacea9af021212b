# SPDX-License-Identifier: Apache-2.0
# Shared helpers for the end-to-end tests (sourced, not run). Each test gets its own temp
# dir holding the admin socket, the daemon's log and its backing files; the daemon listens
# on 127.0.0.1 port 0 and the test reads the bound port back over the admin socket.
#
#   requires CMD...            skip (exit 77) when a tool is missing; with CI=true, fail
#   start_daemon [ARGS...]     start modtgtd, poll the admin socket until it answers;
#                              sets DAEMON_PID, PORT, PORTAL. Its state file is
#                              $CONFIG ($TMP/config.json) unless ARGS give --config or
#                              --no-config.
#   stop_daemon                SIGTERM, wait, check exit status 0
#   adm ARGS...                modtgtadm on this test's socket
#   new_target TID IQN         create a target bound to ALL initiators
#   json_get EXPR              read JSON on stdin, print python expression EXPR over `j`
#   make_iso FILE SECTORS TAG  write an ISO 9660 image (TAG in its volume id; each data
#                              sector holds "TAG sector N" lines), for cd LUNs
#   cleanup_fn CMD...          run CMD at exit
#   fail MSG                   print and exit 1
#
# MODTGT_TEST_KEEP=DIR keeps the temp dir of a failed test (daemon log, Ceph logs, ...) as
# DIR/TEST_NAME.XXXXXX instead of removing it; MODTGT_TEST_KEEP_ALL=1 keeps passing ones too.
set -euo pipefail

: "${MODTGT_BUILD:?MODTGT_BUILD must point at the build folder}"
: "${MODTGT_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
MODTGTD=$MODTGT_BUILD/modtgtd
MODTGTADM=$MODTGT_BUILD/modtgtadm
MODULE_DIR=$MODTGT_BUILD/lib/modtgt
TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/modtgt-$TEST_NAME.XXXXXX")
SOCK=$TMP/modtgtd.sock
LOG=$TMP/modtgtd.log
CONFIG=$TMP/config.json
DAEMON_PID=
_cleanups=()

cleanup_fn() { _cleanups+=("$*"); }

_run_cleanups() {
  local rc=$?
  local i
  for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" || true; done
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
  fi
  if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -f "$LOG" ]; then
    echo "---- $TEST_NAME: last lines of the daemon log ----" >&2
    tail -n 40 "$LOG" >&2
  fi
  if [ -n "${MODTGT_TEST_KEEP:-}" ] && { [ $rc -ne 0 ] && [ $rc -ne 77 ] || [ -n "${MODTGT_TEST_KEEP_ALL:-}" ]; }; then
    mkdir -p "$MODTGT_TEST_KEEP"
    local kept
    kept=$(mktemp -d "$MODTGT_TEST_KEEP/$TEST_NAME.XXXXXX")
    cp -a "$TMP/." "$kept/" 2>/dev/null || true
    echo "# $TEST_NAME: temp dir kept in $kept" >&2
  fi
  rm -rf "$TMP"
  # Tests keep their state files in their own folder: on a CI machine (which runs no
  # modtgtd service) the default state folder must never appear.
  if [ "${CI:-}" = true ] && [ -e /var/lib/modtgt ] && [ $rc -eq 0 ]; then
    echo "FAIL: $TEST_NAME: /var/lib/modtgt exists: a test started modtgtd without --config" >&2
    rc=1
  fi
  exit $rc
}
trap _run_cleanups EXIT

fail() { echo "FAIL: $TEST_NAME: $*" >&2; exit 1; }
info() { echo "# $*" >&2; }

requires() {
  local c
  for c in "$@"; do
    if ! command -v "$c" >/dev/null 2>&1; then
      if [ "${CI:-}" = true ]; then fail "required tool '$c' is missing (CI must install it)"; fi
      echo "SKIP: $TEST_NAME: '$c' not installed" >&2
      exit 77
    fi
  done
}

adm() { "$MODTGTADM" --socket "$SOCK" "$@"; }

json_get() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

# Polls CMD until it succeeds or TIMEOUT seconds pass (default 20).
wait_for() {
  local timeout=$1; shift
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}

start_daemon() {
  local config=(--config "$CONFIG") a
  for a in "$@"; do
    case "$a" in --config|--config=*|--no-config) config=();; esac
  done
  "$MODTGTD" -f --iscsi portal=127.0.0.1:0 --socket "$SOCK" --module-dir "$MODULE_DIR" \
    --log-level "${MODTGT_LOG_LEVEL:-info}" "${config[@]}" \
    "$@" >> "$LOG" 2>&1 &
  DAEMON_PID=$!
  if ! wait_for 20 adm --mode system --op show; then
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "modtgtd exited during start-up"
    fail "modtgtd did not answer on $SOCK within 20 s"
  fi
  PORTAL=$(adm --mode system --op show --json | json_get 'j["portals"][0]')
  PORT=${PORTAL##*:}
  info "modtgtd pid $DAEMON_PID on $PORTAL"
}

stop_daemon() {
  [ -n "$DAEMON_PID" ] || return 0
  kill -TERM "$DAEMON_PID"
  local rc=0
  wait "$DAEMON_PID" || rc=$?
  DAEMON_PID=
  [ $rc -eq 0 ] || fail "modtgtd exited with status $rc after SIGTERM"
}

new_target() {
  adm --mode target --op new --tid "$1" --targetname "$2"
  adm --mode target --op bind --tid "$1" --initiator-address ALL
}

make_iso() {  # make_iso FILE SECTORS TAG
  python3 - "$1" "$2" "$3" <<'EOF'
import struct, sys
path, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
S = 2048
def both16(v): return struct.pack('<H', v) + struct.pack('>H', v)
def both32(v): return struct.pack('<I', v) + struct.pack('>I', v)
def dirrec(lba, size, name):
    body = bytes([0]) + both32(lba) + both32(size) + bytes(7) + bytes([2, 0, 0]) + both16(1) \
        + bytes([len(name)]) + name
    rec = bytes([33 + len(name)]) + body
    return rec + (b'\0' if len(rec) % 2 else b'')
img = bytearray(n * S)
pvd = bytearray(S)
pvd[0] = 1; pvd[1:6] = b'CD001'; pvd[6] = 1
pvd[8:40] = b'MODTGT'.ljust(32); pvd[40:72] = tag.encode().ljust(32)
pvd[80:88] = both32(n); pvd[120:124] = both16(1); pvd[124:128] = both16(1)
pvd[128:132] = both16(S)
root = dirrec(18, S, b'\0')
pvd[156:156 + len(root)] = root
pvd[881] = 1
img[16 * S:17 * S] = pvd
img[17 * S:17 * S + 7] = bytes([255]) + b'CD001' + bytes([1])
rootdir = dirrec(18, S, b'\0') + dirrec(18, S, b'\1')
img[18 * S:18 * S + len(rootdir)] = rootdir
for i in range(19, n):
    line = ('%s sector %08d\n' % (tag, i)).encode()
    img[i * S:(i + 1) * S] = (line * (S // len(line) + 1))[:S]
open(path, 'wb').write(img)
EOF
}
