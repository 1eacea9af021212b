#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Acceptance (issue 10, 3): the command counters match the I/O performed.
#  - A libiscsi tool (tests/tools/stats_io) sends a known number of READ (16), WRITE (16),
#    TEST UNIT READY and one failing READ over one session; between two readings of
#    --op stat the LU's, the session's and the portal's counters moved by exactly that:
#    commands by direction, bytes, errors, and latency samples.
#  - qemu-img writes a 4 MiB image through a proxy that counts the SCSI commands on the
#    wire: the LU's counters move by exactly what the proxy saw (16 WRITEs of 256 KiB at
#    the LU's 512-block maximum transfer length, and qemu's probing commands).
#  - The Prometheus endpoint (--metrics, loopback only) serves the same numbers; a
#    non-loopback address is refused unless explicitly allowed.
source "$(dirname "$0")/functions.sh"
requires qemu-img python3
TOOL=$MODTGT_BUILD/tests/tools/stats_io
[ -x "$TOOL" ] || fail "$TOOL is not built (libiscsi-dev missing at build time?)"

# Refused before anything starts: a metrics address that is not loopback.
rc=0
"$MODTGTD" -f --no-config --socket "$TMP/refused.sock" --metrics 192.0.2.1:9100 > "$TMP/out" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "a non-loopback --metrics address: exit $rc, expected 2: $(cat "$TMP/out")"
grep -q "not a loopback address" "$TMP/out" || fail "no reason given: $(cat "$TMP/out")"

start_daemon --no-config --metrics 127.0.0.1:0
METRICS=$(adm --mode system --op show --json | json_get 'j["metrics"]')
[[ $METRICS == 127.0.0.1:* ]] || fail "system show has no metrics address: $METRICS"
IQN=iqn.2026-11.org.modtgt.test:stats
truncate -s 64M "$TMP/lun.img"
new_target 1 "$IQN"
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/lun.img"

snap() { adm --mode system --op stat --json > "$TMP/$1.json"; }

# ---- a known number of commands over one session ----
coproc IO { "$TOOL" "iscsi://$PORTAL/$IQN/1"; }
IO_TOOL_PID=$IO_PID  # bash unsets IO_PID once the coprocess has exited
say() {
  local line
  echo "$1" >&"${IO[1]}"
  read -r -t 30 line <&"${IO[0]}" || fail "stats_io did not answer '$1'"
  [ "$line" = "$2" ] || fail "stats_io: '$1' -> '$line', expected '$2'"
}
read -r -t 30 line <&"${IO[0]}" || fail "stats_io did not start"
[ "$line" = ready ] || fail "stats_io: $line"
snap s0
say "write 0 8 5" "ok 5"     # 5 x 4 KiB written
say "read 8 16 3" "ok 3"     # 3 x 8 KiB read
say "tur 4" "ok 4"           # 4 commands without data
say "bad" "ok 1"             # 1 READ past the end: CHECK CONDITION
snap s1
say "quit" "bye"
wait "$IO_TOOL_PID" 2>/dev/null || true

python3 - "$TMP/s0.json" "$TMP/s1.json" "$PORTAL" <<'EOF' || fail "the counters do not match the commands sent"
import json, sys
s0, s1 = (json.load(open(f)) for f in sys.argv[1:3])
portal = sys.argv[3]
want = {"write_cmds": 5, "write_bytes": 5 * 8 * 512, "read_cmds": 3 + 1,
        "read_bytes": 3 * 16 * 512, "other_cmds": 4, "errors": 1, "commands": 13}
def delta(a, b):
    d = {k: b[k] - a[k] for k in want}
    d["latency_samples"] = sum(x["count"] for x in b["latency_buckets"]) - \
        sum(x["count"] for x in a["latency_buckets"])
    return d
def check(what, a, b):
    d = delta(a, b)
    for k, v in want.items():
        assert d[k] == v, f"{what}: {k} moved by {d[k]}, expected {v} ({d})"
    assert d["latency_samples"] == want["commands"], f"{what}: latency samples {d}"
lun = lambda s: [l for l in s["luns"] if l["tid"] == 1 and l["lun"] == 1][0]["stats"]
check("LU", lun(s0), lun(s1))
ses = lambda s: [x for x in s["sessions"] if x["initiator"].endswith(":stats-io")][0]
assert ses(s0)["sid"] == ses(s1)["sid"]
check("session", ses(s0)["stats"], ses(s1)["stats"])
por = lambda s: [p for p in s["portals"] if p["portal"] == portal][0]["stats"]
check("portal", por(s0), por(s1))
check("total", s0["total"], s1["total"])
EOF

# ---- the text form: tgtadm's table ----
adm --mode target --op stat --tid 1 > "$TMP/stat.txt"
head -1 "$TMP/stat.txt" | grep -q "^tgt lun sid rd_subm(bytes,cmds)" || fail "stat header: $(cat "$TMP/stat.txt")"
grep -Eq "^  1   1   - +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+$" \
  "$TMP/stat.txt" || fail "no LU row: $(cat "$TMP/stat.txt")"

# ---- qemu-img: the counters match the PDUs on the wire, command for command ----
# A second LU with a maximum transfer length of 512 blocks (256 KiB, Block Limits VPD):
# qemu splits its writes there, so 4 MiB is exactly 16 WRITEs whatever its buffer size. A
# counting proxy (tests/tools/iscsi_count_proxy.py) between qemu-img and the portal counts
# every SCSI command, its direction and bytes, and every status other than GOOD from the
# PDUs; the LU's counters and the total must move by exactly what it saw. The target runs
# without digests so the proxy can parse the stream.
truncate -s 64M "$TMP/lun2.img"
adm --mode logicalunit --op new --tid 1 --lun 2 --backing-store "$TMP/lun2.img" \
    --params max_transfer_blocks=512
adm --mode target --op update --tid 1 --name HeaderDigest --value None
adm --mode target --op update --tid 1 --name DataDigest --value None
head -c 4194304 /dev/urandom > "$TMP/src.img"
coproc PROXY { python3 "$MODTGT_SRC/tests/tools/iscsi_count_proxy.py" "$PORTAL"; }
read -r -t 30 word PPORT <&"${PROXY[0]}" || fail "the counting proxy did not start"
[ "$word" = port ] || fail "counting proxy: $word $PPORT"
snap s2
qemu-img convert -n -f raw -O raw "$TMP/src.img" "iscsi://127.0.0.1:$PPORT/$IQN/2" ||
  fail "qemu-img convert to the LU failed"
snap s3
eval "exec ${PROXY[1]}>&-"  # stdin ends: the proxy prints what it counted
read -r -t 30 WIRE <&"${PROXY[0]}" || fail "the counting proxy gave no counts"
info "qemu-img on the wire: $WIRE"
python3 - "$TMP/s2.json" "$TMP/s3.json" "$WIRE" <<'EOF' || fail "qemu-img's commands are not counted exactly"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
wire = json.loads(sys.argv[3])
assert wire["write_cmds"] == 16 and wire["write_bytes"] == 4194304, wire
assert wire["read_cmds"] > 0, wire  # qemu probes the LU (INQUIRY, READ CAPACITY...)
lun = lambda s: [l for l in s["luns"] if l["tid"] == 1 and l["lun"] == 2][0]["stats"]
for k, v in wire.items():
    d = lun(b)[k] - lun(a)[k]
    assert d == v, f"LU 2: {k} moved by {d}, the wire says {v}"
    t = b["total"][k] - a["total"][k]
    assert t == v, f"total: {k} moved by {t}, the wire says {v}"
samples = lambda s: sum(x["count"] for x in s["latency_buckets"])
assert samples(lun(b)) - samples(lun(a)) == wire["commands"], "latency samples"
EOF
cmp -n 4194304 "$TMP/src.img" "$TMP/lun2.img" || fail "the LU does not hold what qemu-img wrote"

# ---- Prometheus: the same numbers ----
snap s4
python3 - "$METRICS" "$TMP/s4.json" "$IQN" <<'EOF' || fail "the metrics endpoint disagrees with --op stat"
import json, re, sys, urllib.request, urllib.error
addr, snapfile, iqn = sys.argv[1:4]
text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=10).read().decode()
s = json.load(open(snapfile))
lu = [l for l in s["luns"] if l["tid"] == 1 and l["lun"] == 1][0]["stats"]
def value(name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + "{" + want + "}"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{{{want}}} in\n{text[:2000]}")
base = dict(tid=1, target=iqn, lun=1)
assert value("modtgt_lun_commands_total", **base, direction="write") == lu["write_cmds"]
assert value("modtgt_lun_commands_total", **base, direction="read") == lu["read_cmds"]
assert value("modtgt_lun_bytes_total", **base, direction="write") == lu["write_bytes"]
assert value("modtgt_lun_errors_total", **base) == lu["errors"]
count = value("modtgt_lun_latency_seconds_count", **base)
assert count == lu["commands"], (count, lu)
assert value("modtgt_lun_latency_seconds_bucket", **base, le="+Inf") == count
assert "# TYPE modtgt_lun_latency_seconds histogram" in text
try:
    urllib.request.urlopen(f"http://{addr}/other", timeout=10)
    raise AssertionError("/other answered")
except urllib.error.HTTPError as e:
    assert e.code == 404, e.code
EOF
adm --mode system --op show > /dev/null || fail "modtgtd stopped answering"
stop_daemon
info "ok"
