#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# systemd readiness (issue 9, acceptance 4): with a listening NOTIFY_SOCKET (what systemd
# gives a Type=notify service), modtgtd sends READY=1 once the saved configuration is
# restored and the portals listen: the listener, on receiving it, finds the restored
# target in `system show` and connects to the portal at once. SIGHUP sends RELOADING=1 then
# READY=1; SIGTERM sends STOPPING=1. Also: --pidfile holds the pid and goes at exit, and
# --log-target journal writes syslog priority prefixes.
source "$(dirname "$0")/functions.sh"
requires python3

IQN=iqn.2026-12.org.modtgt.test:notify
truncate -s 16M "$TMP/a.img"
# A configuration to restore: made by a first daemon, which has no NOTIFY_SOCKET.
start_daemon
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/a.img"
stop_daemon

# The service manager's side: a datagram socket; on READY=1 it checks the daemon at once.
export NOTIFY_SOCKET=$TMP/notify.sock
python3 - "$NOTIFY_SOCKET" "$MODTGTADM" "$SOCK" "$IQN" > "$TMP/notify.log" 2>&1 <<'EOF' &
import json, socket, subprocess, sys
path, adm, sock, iqn = sys.argv[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(60)
print("listening", flush=True)
while True:
    msg = s.recv(4096).decode()
    for line in msg.splitlines():
        print("got " + line, flush=True)
    if "READY=1" in msg.splitlines() and "checked" not in globals():
        checked = True
        show = json.loads(subprocess.run([adm, "--socket", sock, "--mode", "system", "--op", "show",
                                          "--json"], capture_output=True, text=True).stdout)
        names = [t["name"] for t in show["targets"]]
        print("targets at READY: " + " ".join(names), flush=True)
        for p in show["portals"]:
            host, port = p.rsplit(":", 1)
            socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
            print("portal at READY: " + p, flush=True)
    if "STOPPING=1" in msg.splitlines():
        break
EOF
LISTENER=$!
cleanup_fn "kill $LISTENER 2>/dev/null"
wait_for 20 grep -q listening "$TMP/notify.log" || fail "the listener did not start"

start_daemon --log-target journal --pidfile "$TMP/modtgtd.pid"
wait_for 20 grep -q "portal at READY" "$TMP/notify.log" || fail "no READY=1: $(cat "$TMP/notify.log")"
grep -q "targets at READY: $IQN" "$TMP/notify.log" || fail "READY=1 before the restore: $(cat "$TMP/notify.log")"
grep -q "got MAINPID=$DAEMON_PID" "$TMP/notify.log" || fail "no MAINPID: $(cat "$TMP/notify.log")"
[ "$(cat "$TMP/modtgtd.pid")" = "$DAEMON_PID" ] || fail "pid file: $(cat "$TMP/modtgtd.pid")"
grep -q "^<6>modtgtd info: ready" "$LOG" || fail "--log-target journal: no <6> prefix"

kill -HUP "$DAEMON_PID"
wait_for 20 grep -q "got RELOADING=1" "$TMP/notify.log" || fail "no RELOADING=1"
wait_for 20 test "$(grep -c 'got READY=1' "$TMP/notify.log")" -ge 2 || fail "no READY=1 after the reload"
PID=$DAEMON_PID
stop_daemon
wait "$LISTENER" || fail "the listener failed: $(cat "$TMP/notify.log")"
grep -q "got STOPPING=1" "$TMP/notify.log" || fail "no STOPPING=1"
[ ! -e "$TMP/modtgtd.pid" ] || fail "the pid file ($PID) was left behind"
unset NOTIFY_SOCKET
info "ok"
