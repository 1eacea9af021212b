# SPDX-License-Identifier: Apache-2.0
# A throwaway single-node Ceph cluster for the RBD tests (sourced after functions.sh).
#
# One monitor and one OSD (memstore: the objects live in the OSD's memory and are saved to
# its folder on a clean stop), cephx, loopback only, msgr2 only, no systemd, no mgr. Every
# file (ceph.conf, keyring, mon and OSD data, logs, admin sockets, pid files) is under
# $TMP/ceph, and the tools are always given -c $CEPH_CONF: nothing is read from or written
# to /etc/ceph or /var/lib/ceph. The monitor listens on a port picked free by the kernel
# (retried if another test took it in between), the OSD on whatever ms_bind_port_min.. gives
# it, so several tests can run their own clusters side by side. The daemons are children of
# the test shell, killed by the test's cleanup (also on failure) before $TMP is removed.
#
#   ceph_start               mon + OSD + pool $CEPH_POOL ("modtgt", rbd-initialised); sets
#                            CEPH_DIR, CEPH_CONF, CEPH_KEYRING, CEPH_MON_PORT, CEPH_POOL and
#                            CEPH_OPTS (the ";conf=...;keyring=..." part of a cfgstring)
#   ceph_stop                stop every daemon (cleanup does it anyway)
#   ceph_osd_stop            stop the OSD cleanly (memstore saves its objects); waits, and
#                            fails (status 1) if the OSD did not exit cleanly
#   ceph_osd_start [SECS]    start it again; waits until it is up and every placement group
#                            of $CEPH_POOL serves I/O (60 s, or SECS)
#   ceph_mon_stop / ceph_mon_start
#   cephc ARGS / rbdc ARGS / radosc ARGS   the CLIs on this cluster (bounded by timeouts)
#   rbd_new IMAGE SIZE       an image with layering + exclusive-lock
#   rbd_requires             ceph_requires + bs_rbd.so built (skip, or fail with CI=true)
#
# Start-up takes 1-2 s on an idle machine (the monitor commits map changes at once:
# paxos propose interval); every wait polls, none sleeps a fixed time.

CEPH_POOL=${CEPH_POOL:-modtgt}
CEPH_DIR=
CEPH_CONF=
CEPH_KEYRING=
CEPH_MON_PORT=
CEPH_OPTS=
CEPH_MON_PID=
CEPH_OSD_PID=
CEPH_OSD_UUID=
# A daemon outlives its test by at most this long even if the test is SIGKILLed before its
# cleanup runs: each daemon runs under GNU timeout. ceph_*_stop signal the daemon itself,
# never the wrapper (see _ceph_term).
CEPH_MAX_LIFETIME=${CEPH_MAX_LIFETIME:-3600}
# Client-side bound on every CLI call: never wait 300 s (client_mount_timeout) for a
# cluster that is not there.
CEPH_CLI_TIMEOUT=${CEPH_CLI_TIMEOUT:-60}

ceph_requires() { requires ceph-mon ceph-osd ceph-authtool monmaptool ceph rbd rados uuidgen timeout pgrep python3; }

# The Ceph tools and bs_rbd.so (built only where librbd is found): skip without them,
# except in CI, where a missing one fails the test.
rbd_requires() {
  ceph_requires
  if [ ! -f "$MODULE_DIR/backing-store/bs_rbd.so" ]; then
    if [ "${CI:-}" = true ]; then fail "bs_rbd.so was not built (librbd-dev/librados-dev missing?)"; fi
    echo "SKIP: $TEST_NAME: bs_rbd.so not built (librbd-dev, librados-dev)" >&2
    exit 77
  fi
}

cephc() { timeout "$CEPH_CLI_TIMEOUT" ceph -c "$CEPH_CONF" --connect-timeout 30 "$@"; }
rbdc() { timeout "$CEPH_CLI_TIMEOUT" rbd -c "$CEPH_CONF" "$@"; }
radosc() { timeout "$CEPH_CLI_TIMEOUT" rados -c "$CEPH_CONF" "$@"; }

_ceph_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

_ceph_write_conf() {
  cat > "$CEPH_CONF" <<EOF
[global]
fsid = $CEPH_FSID
mon host = [v2:127.0.0.1:$CEPH_MON_PORT]
public addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $CEPH_KEYRING
log file = $CEPH_DIR/\$name.log
admin socket = $CEPH_DIR/\$name.\$pid.\$cctid.asok
pid file = $CEPH_DIR/\$name.pid
run dir = $CEPH_DIR
crash dir = $CEPH_DIR/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
auth allow insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 1
mon data avail crit = 0
client mount timeout = 30
[mon]
mon data = $CEPH_DIR/mon.\$id
mon cluster log file = $CEPH_DIR/cluster.log
# Commit map changes at once instead of batching them for a second: every step of the
# start-up (OSD in the CRUSH map, OSD up, pool, PGs) is such a change.
paxos propose interval = 0.05
paxos min wait = 0.01
mon osd crush smoke test = false
${CEPH_DEBUG:+debug mon = 10
debug paxos = 10
debug ms = 1}
[osd]
osd data = $CEPH_DIR/osd.\$id
osd objectstore = memstore
memstore device bytes = 4294967296
# A clean stop unmounts the store, which is when memstore writes its objects to disk:
# the cluster-loss test stops and restarts the OSD and expects its data back.
osd fast shutdown = false
${CEPH_DEBUG:+debug osd = 10
debug ms = 1
debug memstore = 10}
EOF
}

# Waits (polling) until the daemon with pid $1 is gone, at most $2 seconds; then SIGKILL.
# Sets _CEPH_EXIT to its exit status (for a timeout wrapper: the daemon's).
_CEPH_EXIT=0
_ceph_wait_gone() {
  local pid=$1 limit=$2 deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      info "ceph daemon $pid did not stop within $limit s: SIGKILL"
      pkill -KILL -P "$pid" 2>/dev/null || true  # the daemon under its timeout wrapper
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.05
  done
  _CEPH_EXIT=0
  wait "$pid" 2>/dev/null || _CEPH_EXIT=$?
}

# Stops the daemon whose timeout(1) wrapper has pid $1 with ONE SIGTERM sent to the daemon
# itself, then waits for it (at most $2 s). Never signal the wrapper: GNU timeout relays a
# SIGTERM it gets twice, to the daemon and again to its process group (and arms its -k
# SIGKILL). The Ceph daemons take SIGTERM with a one-shot handler (SA_RESETHAND: the first
# one starts a clean shutdown and puts back the default action), so when the daemon has
# taken the first before timeout sends the second (a scheduling race, frequent on a loaded
# machine), the second kills it on the spot: an OSD killed so has not unmounted memstore,
# which writes its objects only then, and comes back empty, every PG and object gone.
_ceph_term() {
  local wrapper=$1 limit=$2 daemon
  daemon=$(pgrep -P "$wrapper" 2>/dev/null | head -n 1 || true)
  # No child yet (not forked): the wrapper exits at once on SIGTERM, nothing to save.
  kill -TERM "${daemon:-$wrapper}" 2>/dev/null || true
  _ceph_wait_gone "$wrapper" "$limit"
}

ceph_mon_start() {
  timeout -k 10 "$CEPH_MAX_LIFETIME" ceph-mon -f -c "$CEPH_CONF" -i a >> "$CEPH_DIR/mon.a.out" 2>&1 &
  CEPH_MON_PID=$!
  # Up when it answers (single monitor: quorum of one at once).
  local deadline=$((SECONDS + 30))
  until timeout 10 ceph -c "$CEPH_CONF" --connect-timeout 5 mon stat > /dev/null 2>&1; do
    kill -0 "$CEPH_MON_PID" 2>/dev/null || return 1
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

ceph_mon_stop() {
  [ -n "$CEPH_MON_PID" ] || return 0
  _ceph_term "$CEPH_MON_PID" 20
  CEPH_MON_PID=
}

ceph_osd_start() {
  timeout -k 10 "$CEPH_MAX_LIFETIME" ceph-osd -f -c "$CEPH_CONF" -i 0 >> "$CEPH_DIR/osd.0.out" 2>&1 &
  CEPH_OSD_PID=$!
  [ "${1:-}" != --nowait ] || return 0
  local deadline=$((SECONDS + ${1:-60}))
  until [ "$(cephc osd dump --format json 2>/dev/null |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["osds"][0]["up"])' 2>/dev/null)" = 1 ]; do
    kill -0 "$CEPH_OSD_PID" 2>/dev/null || { tail -n 20 "$CEPH_DIR/osd.0.log" >&2; return 1; }
    [ $SECONDS -lt $deadline ] || { info "osd.0 is not up in the osdmap"; return 1; }
    sleep 0.1
  done
  # "up" in the osdmap is not serving yet: the PGs still peer (and wait for the monitor to
  # record up_thru). Listing the pool asks every PG, so it answers once all are active.
  # (No mgr here, so no `ceph pg stat`.)
  until CEPH_CLI_TIMEOUT=10 radosc -p "$CEPH_POOL" ls > /dev/null 2>&1; do
    kill -0 "$CEPH_OSD_PID" 2>/dev/null || { tail -n 20 "$CEPH_DIR/osd.0.log" >&2; return 1; }
    [ $SECONDS -lt $deadline ] || { info "osd.0 is up but pool $CEPH_POOL does not answer"; return 1; }
    sleep 0.1
  done
}

ceph_osd_stop() {
  [ -n "$CEPH_OSD_PID" ] || return 0
  _ceph_term "$CEPH_OSD_PID" 30
  CEPH_OSD_PID=
  # Exit status 0 only after a clean shutdown, which is when memstore saved its objects.
  if [ "$_CEPH_EXIT" -ne 0 ]; then
    info "osd.0 did not stop cleanly (exit status $_CEPH_EXIT): memstore did not save its objects"
    return 1
  fi
}

ceph_stop() {
  # A test that fails leaves its modtgtd running until after the cleanups: stop it while
  # the cluster is still there (librbd's close talks to it), then the cluster.
  if [ -n "${DAEMON_PID:-}" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    _ceph_wait_gone "$DAEMON_PID" 60
  fi
  ceph_osd_stop || true
  ceph_mon_stop
}

ceph_start() {
  ceph_requires
  local t0
  t0=$(date +%s%N)
  CEPH_DIR=$TMP/ceph
  mkdir -p "$CEPH_DIR/crash" "$CEPH_DIR/osd.0"
  CEPH_CONF=$CEPH_DIR/ceph.conf
  CEPH_KEYRING=$CEPH_DIR/keyring
  CEPH_FSID=$(uuidgen)
  cleanup_fn ceph_stop
  ceph-authtool --create-keyring "$CEPH_KEYRING" --gen-key -n mon. --cap mon 'allow *' > /dev/null
  ceph-authtool "$CEPH_KEYRING" --gen-key -n client.admin --cap mon 'allow *' \
    --cap osd 'allow *' --cap mgr 'allow *' > /dev/null
  ceph-authtool "$CEPH_KEYRING" --gen-key -n osd.0 --cap mon 'allow profile osd' \
    --cap osd 'allow *' --cap mgr 'allow profile osd' > /dev/null
  local try
  for try in 1 2 3 4 5; do
    CEPH_MON_PORT=$(_ceph_free_port)
    _ceph_write_conf
    rm -rf "$CEPH_DIR/mon.a" "$CEPH_DIR/monmap"
    monmaptool --create --addv a "[v2:127.0.0.1:$CEPH_MON_PORT]" --fsid "$CEPH_FSID" \
      "$CEPH_DIR/monmap" > /dev/null
    ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$CEPH_DIR/monmap" --keyring "$CEPH_KEYRING" \
      > "$CEPH_DIR/mkfs.out" 2>&1 || { cat "$CEPH_DIR/mkfs.out" >&2; fail "ceph-mon --mkfs failed"; }
    if ceph_mon_start; then break; fi
    # Port taken by someone else between the probe and the bind: try another one.
    info "ceph-mon did not come up on port $CEPH_MON_PORT (try $try)"
    ceph_mon_stop
    [ $try -lt 5 ] || { tail -n 20 "$CEPH_DIR/mon.a.log" >&2; fail "ceph-mon does not start"; }
  done
  CEPH_OSD_UUID=$(uuidgen)
  cephc osd new "$CEPH_OSD_UUID" 0 > /dev/null || fail "ceph osd new failed"
  ceph-osd -c "$CEPH_CONF" -i 0 --mkfs --osd-uuid "$CEPH_OSD_UUID" > "$CEPH_DIR/osd-mkfs.out" 2>&1 ||
    { cat "$CEPH_DIR/osd-mkfs.out" >&2; fail "ceph-osd --mkfs failed"; }
  # The pool is created while the OSD boots; rbd pool init then waits for both.
  ceph_osd_start --nowait
  cephc osd pool create "$CEPH_POOL" 8 > /dev/null 2>&1 || fail "cannot create pool $CEPH_POOL"
  # rbd pool init writes to the pool: it returns once the placement groups are active.
  rbdc pool init "$CEPH_POOL" || fail "rbd pool init $CEPH_POOL failed"
  CEPH_OPTS=";conf=$CEPH_CONF;id=admin;keyring=$CEPH_KEYRING"
  info "ceph: mon 127.0.0.1:$CEPH_MON_PORT (pid $CEPH_MON_PID), osd.0 pid $CEPH_OSD_PID, pool $CEPH_POOL, up in $((($(date +%s%N) - t0) / 1000000)) ms"
}

# Cluster state for a failure report, into $CEPH_DIR/diag.txt (each call bounded).
ceph_diag() {
  [ -n "$CEPH_DIR" ] || return 0
  local f=$CEPH_DIR/diag.txt a
  {
    echo "==== $(date -u +%T.%N)"
    for a in "health detail" "osd dump" "pg dump" "pg stat"; do
      echo "---- ceph $a"
      # shellcheck disable=SC2086
      CEPH_CLI_TIMEOUT=10 cephc $a 2>&1 || echo "(rc $?)"
    done
    for a in "$CEPH_DIR"/osd.0.*.asok; do
      [ -S "$a" ] || continue
      echo "---- $a status / dump_ops_in_flight"
      timeout 10 ceph -c "$CEPH_CONF" --admin-daemon "$a" status 2>&1 || true
      timeout 10 ceph -c "$CEPH_CONF" --admin-daemon "$a" dump_ops_in_flight 2>&1 || true
    done
  } >> "$f"
}

rbd_new() { rbdc create --size "$2" --image-feature layering,exclusive-lock "$CEPH_POOL/$1"; }
