# SPDX-License-Identifier: Apache-2.0
# Helpers for the tests that hold modtgt against Debian's tgt (sourced after functions.sh).
#
#   free_port                  print a TCP port free on 127.0.0.1 now
#   start_tgtd                 start tgtd -f on 127.0.0.1:<free port> with control port 1 and
#                              its IPC socket in $TMP (TGT_IPC_SOCKET); sets TGTD_PID,
#                              TGTD_PORT; killed (SIGKILL: tgtd ignores SIGTERM) at exit
#   stop_tgtd                  kill it now and remove its socket
#   tgt TGTADM-ARGS...         the real tgtadm on that tgtd
#   tgtadm_link                make $TMP/bin/tgtadm -> modtgtadm (the tgtadm entry point) and
#                              print the folder, for PATH
#   normalize_tgt_show [defaults]
#                              stdin -> stdout: the documented differences between tgtadm's
#                              and modtgtadm's `show` texts taken out (docs/tgt-compat.md,
#                              "show output"), so what is left must be identical. With
#                              "defaults", a value that is the daemon's own default (a LUN's
#                              derived SCSI ID/SN, an iSCSI parameter not set) reads
#                              "<default>" (docs/tgt-compat.md, "Defaults")
requires tgtd tgtadm python3

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

TGTD_PID=
start_tgtd() {
  export TGT_IPC_SOCKET=$TMP/tgtd-ipc  # tgtd and tgtadm both take the socket path from it
  local try
  for try in 1 2 3; do
    TGTD_PORT=$(free_port)
    setsid tgtd -f --iscsi portal=127.0.0.1:"$TGTD_PORT" -C 1 >> "$TMP/tgtd.log" 2>&1 &
    TGTD_PID=$!
    if wait_for 20 tgtadm -C 1 --mode system --op show; then
      cleanup_fn stop_tgtd
      info "tgtd pid $TGTD_PID on 127.0.0.1:$TGTD_PORT"
      return 0
    fi
    kill -KILL "$TGTD_PID" 2>/dev/null || true
    wait "$TGTD_PID" 2>/dev/null || true
  done
  fail "tgtd did not start: $(tail -5 "$TMP/tgtd.log")"
}

stop_tgtd() {
  [ -n "$TGTD_PID" ] || return 0
  kill -KILL "$TGTD_PID" 2>/dev/null || true
  wait "$TGTD_PID" 2>/dev/null || true
  TGTD_PID=
  rm -f "$TMP"/tgtd-ipc.1 "$TMP"/tgtd-ipc.1.lock
}

tgt() { tgtadm -C 1 "$@"; }

tgtadm_link() {
  mkdir -p "$TMP/bin"
  ln -sf "$MODTGTADM" "$TMP/bin/tgtadm"
  echo "$TMP/bin"
}

normalize_tgt_show() {
  python3 -c '
import re, sys
DEFAULTS = len(sys.argv) > 1 and sys.argv[1] == "defaults"
# Each daemon`s values for an iSCSI parameter nobody set (tgt 1.0.85, modtgt).
PARAM_DEFAULTS = {
    "MaxRecvDataSegmentLength": ("8192", "262144"), "HeaderDigest": ("None", "CRC32C,None"),
    "DataDigest": ("None", "CRC32C,None"), "InitialR2T": ("Yes", "No"),
    "MaxOutstandingR2T": ("1", "16"), "ImmediateData": ("Yes",), "FirstBurstLength": ("65536", "262144"),
    "MaxBurstLength": ("262144", "1048576"), "MaxXmitDataSegmentLength": ("8192", "16777215"),
    "MaxQueueCmd": ("128",), "DefaultTime2Wait": ("2",), "DefaultTime2Retain": ("20",),
    "MaxConnections": ("1", "4"), "ErrorRecoveryLevel": ("0", "2"),
}

# modtgt-only lines inside a LUN block (docs/tgt-compat.md: extra lines tgt parsers skip).
MODTGT_LUN_KEYS = ("Offline reason:", "Backing store options:", "Size in bytes:", "Vendor:",
                   "NAA:", "Write cache:", "Sense format:", "Medium present:", "WWN:",
                   "Max transfer length:", "Max data area:", "Cluster lock:", "Events:")
# Keys of `target show --tid` tgt prints and modtgt does not (no iSER), or prints with
# another value (the keepalive).
DROP_PARAMS = ("nop_interval=", "nop_count=", "RDMAExtensions=", "TargetRecvDataSegmentLength=",
               "InitiatorRecvDataSegmentLength=", "MaxOutstandingUnexpectedPDUs=")
lines = sys.stdin.read().split("\n")
out = []
section = None        # the current top-level section of system show
in_lun0 = False
sorted_block = None   # lines of a block whose order differs (portals, accounts)
for line in lines:
    stripped = line.strip()
    indent = len(line) - len(line.lstrip(" "))
    if line.startswith("### "):
        section = None
        out.append(re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line))
        continue
    # system show: tgt sections kept, list contents that differ dropped, modtgt sections dropped.
    if indent == 0 and stripped.endswith(":") and stripped[:-1] in (
            "System", "LLDs", "Backing stores", "Device types", "iSNS", "Daemon", "Portals",
            "Modules", "Targets", "Latency"):
        section = stripped[:-1]
        if section in ("Daemon", "Portals", "Modules", "Targets", "Latency"):
            continue
        out.append(line)
        continue
    if indent > 0 and section in ("Daemon", "Portals", "Modules", "Targets", "Latency"):
        continue
    if indent > 0 and section in ("Backing stores", "Device types"):
        continue
    if indent > 0 and section == "LLDs" and stripped.startswith("iser:"):
        continue
    if indent == 0:
        section = None
    # The LUN 0 controller tgt creates in every target.
    if stripped == "LUN: 0":
        in_lun0 = True
        continue
    if in_lun0:
        if indent >= 12:
            continue
        in_lun0 = False
    if indent >= 12 and stripped.startswith(MODTGT_LUN_KEYS):
        continue
    if stripped.startswith(DROP_PARAMS):
        continue
    if DEFAULTS:
        # tgt derives "IET     00TTLLLL" / "beafTL", modtgt nothing / 16 hex digits of a hash.
        line = re.sub(r"^(\s+SCSI ID: )(IET +[0-9a-f]{8})?$", r"\1<default>", line)
        line = re.sub(r"^(\s+SCSI SN: )(beaf[0-9a-f]+|[0-9A-F]{16})$", r"\1<default>", line)
        m = re.match(r"^(\w+)=(.*)$", line)
        if m and m.group(2) in PARAM_DEFAULTS.get(m.group(1), ()):
            line = m.group(1) + "=<default>"
    # Ports: tgtd and modtgtd listen on different free ports.
    line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line)
    # Session numbers are each daemon`s own counters.
    line = re.sub(r"(I_T nexus: |Session: )\d+", r"\1N", line)
    out.append(line)
# Lists whose order differs (tgt lists portals and accounts newest first): sorted.
result, block = [], []
def flush():
    result.extend(sorted(block))
    block.clear()
for line in out:
    if line.startswith("Portal: ") or (line.startswith("    ") and result and
                                        result[-1] in ("Account list:",) ):
        block.append(line)
        continue
    flush()
    result.append(line)
flush()
sys.stdout.write("\n".join(result))
' "$@"
}
