#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Conformance: runs libiscsi's iscsi-test-cu against a modtgtd set up for the most coverage
# (thin + removable LUN 1, read-only LUN 2, a second portal for the multipath tests), one
# iscsi-test-cu process per test so a skip is told apart from a pass and one test's state
# cannot leak into the next, with -S (the SANITIZE tests). Writes $OUT/results.tsv (test,
# PASS|FAIL|SKIP, note) and fails when
#   - a test listed in the expected file does not pass,
#   - a test fails that the allow-list does not name (each entry there says why),
#   - LUN 1 advertises atomic writes (Block Limits VPD, read with tests/tools/lu_features)
#     and a test of expected-pass-atomic.txt does not pass, or it advertises none and a
#     WriteAtomic16 test is not SKIPped (never advertised, never half-implemented);
#   - LUN 1 does not offer SANITIZE BLOCK ERASE (WABEREQ 0: a store that cannot report its
#     allocation) and Sanitize.BlockErase is not SKIPped.
#
#   run.sh [--update] [--tests PATTERN] [--bstype NAME] [--size SIZE] [--expected FILE]
#          [--allowed FILE] [OUTDIR]
#     --update     rewrite the expected file from this run's passes (atomic tests excepted:
#                  they are in expected-pass-atomic.txt)
#     --tests      a grep -E pattern over test names (default: all)
#     --bstype     the backing store of LUN 1 and LUN 2 (default rdwr): rdwr and uring get
#                  sparse files, ram its size through --bsopts size=, rbd an image each on a
#                  throwaway single-node Ceph cluster (tests/e2e/ceph.sh), any other module a
#                  file path with --bstype NAME
#     --size       LUN 1's size (default 1G; LUN 2 is 64M)
#     --bsoflags   passed to both LUNs (e.g. direct), for the file-backed stores
#     --expected   the list of tests that must pass (default expected-pass.txt beside this
#                  script). Every backing store is held to the same list as rdwr.
#     --allowed    the failures that do not fail the run, "TEST REASON" per line (default
#                  allowed-failures.txt beside this script)
source "$(dirname "$0")/../e2e/functions.sh"
source "$(dirname "$0")/../e2e/ceph.sh"
requires iscsi-test-cu python3 timeout
HERE=$(cd "$(dirname "$0")" && pwd)
[ -x "$MODTGT_BUILD/tests/tools/lu_features" ] ||
  fail "$MODTGT_BUILD/tests/tools/lu_features is not built (libiscsi-dev at configure time)"
UPDATE=0; PATTERN=.; OUT=; BSTYPE=rdwr; SIZE=1G; EXPECTED=$HERE/expected-pass.txt; OFLAGS=()
ALLOWED=$HERE/allowed-failures.txt
ATOMIC_LIST=$HERE/expected-pass-atomic.txt
LU_FEATURES=$MODTGT_BUILD/tests/tools/lu_features
while [ $# -gt 0 ]; do
  case "$1" in
    --update) UPDATE=1; shift;;
    --tests) PATTERN=$2; shift 2;;
    --bstype) BSTYPE=$2; shift 2;;
    --size) SIZE=$2; shift 2;;
    --bsoflags) OFLAGS=(--bsoflags "$2"); shift 2;;
    --expected) EXPECTED=$2; shift 2;;
    --allowed) ALLOWED=$2; shift 2;;
    -*) fail "unknown option $1";;
    *) OUT=$1; shift;;
  esac
done
OUT=${OUT:-$TMP/conformance}
info "backing store: $BSTYPE ${OFLAGS[*]}, LUN 1 size $SIZE, expected: $EXPECTED"
mkdir -p "$OUT"
IQN=iqn.2026-11.org.modtgt.test:conformance
if [ "$BSTYPE" = rbd ]; then
  rbd_requires
  ceph_start
fi

start_daemon --iscsi portal=127.0.0.1:0
PORTAL2=$(adm --mode system --op show --json | json_get 'j["portals"][1]')
new_target 1 $IQN
# new_lun LUN SIZE PARAMS: a LUN of $BSTYPE.
new_lun() {
  local lun=$1 size=$2 params=$3
  case "$BSTYPE" in
    ram)
      # TODO(modtgt): --size SIZE once every modtgtadm in use has it; bsopts works today.
      adm --mode logicalunit --op new --tid 1 --lun "$lun" --bstype ram --backing-store ram/ \
        --bsopts "size=$size" --params "$params";;
    rbd)
      rbd_new "lun$lun" "$size"
      adm --mode logicalunit --op new --tid 1 --lun "$lun" \
        --cfgstring "rbd/$CEPH_POOL/lun$lun$CEPH_OPTS" --params "$params";;
    rdwr)
      truncate -s "$size" "$TMP/lun$lun.img"
      adm --mode logicalunit --op new --tid 1 --lun "$lun" --backing-store "$TMP/lun$lun.img" \
        --params "$params" "${OFLAGS[@]}";;
    *)
      truncate -s "$size" "$TMP/lun$lun.img"
      adm --mode logicalunit --op new --tid 1 --lun "$lun" --bstype "$BSTYPE" \
        --backing-store "$BSTYPE/$TMP/lun$lun.img" --params "$params" "${OFLAGS[@]}";;
  esac
}
new_lun 1 "$SIZE" thin_provisioning=1,removable=1
new_lun 2 64M readonly=1
URL=iscsi://$PORTAL/$IQN/1
MPURL=iscsi://$PORTAL2/$IQN/1
ROURL=iscsi://$PORTAL/$IQN/2
# What LUN 1 advertises where the store decides: atomic writes (bs_ram always; bs_uring only
# where the file system takes RWF_ATOMIC, which depends on the machine) and BLOCK ERASE (a
# thin store that reports its allocation: not one without get_lba_status, e.g. bs_rbd today).
FEATURES=$("$LU_FEATURES" "$URL") || fail "cannot read LUN 1's VPD pages"
ATOMIC_MAX=$(echo "$FEATURES" | sed -n 's/.*max_atomic=\([0-9]*\).*/\1/p')
ATOMIC_GRAN=$(echo "$FEATURES" | sed -n 's/.*granularity=\([0-9]*\).*/\1/p')
BLOCK_ERASE=$(echo "$FEATURES" | sed -n 's/.*block_erase=\([0-9]*\).*/\1/p')
info "LUN 1 advertises: $FEATURES"

iscsi-test-cu -l | grep -E '^ALL\.[^.]+\.[^.]+$' | grep -E "$PATTERN" > "$OUT/tests.txt" || true
[ -s "$OUT/tests.txt" ] || fail "no test selected"
T0=$SECONDS
# Per-test invocation (the methodology of libiscsi-based measuring scripts):
#   -d  allow the destructive (data-loss) tests     -S  allow the SANITIZE tests
#   -x  CUnit XML: the PASS/FAIL verdict             -V  log every SCSI command sent, so
#       a whole-test [SKIPPED] (nothing sent after it) is told apart from a skipped
#       sub-check (the test went on and keeps its verdict).
# The multipath URL goes only to MultipathIO.*: with it, iscsi-test-cu first checks that
# both URLs name the same LU (device identifiers / serial), which the read-only LUN 2
# cannot pass, so the ReadOnly.* tests run against LUN 2 alone. Other tests that want a
# second session clone the first one instead of using the multipath URL (a runner that
# passes the multipath URL to every test sees Sanitize.Reservations leak a RESERVE (6) on
# the second session and its PRIN clean-up fail).
rm -rf "$OUT/raw"
while read -r t; do
  d=$OUT/raw/$t; mkdir -p "$d"
  args=("$URL")
  case "$t" in
    ALL.ReadOnly.*) args=("$ROURL");;
    ALL.MultipathIO.*) args=("$URL" "$MPURL");;
  esac
  rc=0
  t0=$(date +%s%N)
  ( cd "$d" && exec timeout -k 5 60 iscsi-test-cu -d -S -x -V -t "$t" "${args[@]}" \
      > stdout.log 2> stderr.log < /dev/null ) || rc=$?
  echo $((($(date +%s%N) - t0) / 1000000)) > "$d/ms"
  echo "$rc" > "$d/rc"
  kill -0 "$DAEMON_PID" 2>/dev/null || fail "modtgtd died during $t"
done < "$OUT/tests.txt"
# Verdicts, all tests in one python run (one interpreter per test costs ~40 s).
python3 - "$OUT" > "$OUT/results.tsv" <<'PY'
import html, os, re, sys

PARTIAL = re.compile(r"Skipping assert|No alignment restrictions|No granularity restrictions")

def clean(s):
    return re.sub(r"\s+", " ", html.unescape(s)).strip()[:200]

def read(d, name):
    p = os.path.join(d, name)
    return open(p, errors="replace").read() if os.path.exists(p) else ""

def verdict(d):
    rc = int(read(d, "rc").strip() or 0)
    xml = read(d, "CUnitAutomated-Results.xml")
    lines = read(d, "stdout.log").splitlines()
    if "<CUNIT_RUN_TEST_RECORD>" not in xml:
        if rc in (124, 137):
            return "FAIL\ttimeout (60 s)"
        err = [l for l in read(d, "stderr.log").splitlines() + lines if l.strip()]
        return "FAIL\t" + clean("no result (exit %d)" % rc + (": " + err[-1] if err else ""))
    if "<CUNIT_RUN_TEST_FAILURE>" in xml:
        m = re.search(r"<CONDITION>(.*?)</CONDITION>", xml, re.S)
        f = [l.split("[FAILED]", 1)[1] for l in lines if "[FAILED]" in l]
        return "FAIL\t" + clean((f[0] + " | " if f else "") + (m.group(1) if m else "failed"))
    # Cut main()'s LU probe (it ends with the MODE SENSE (6) write-protect check) and the
    # PRIN/PROUT clean-up after the test: their [SKIPPED] lines belong to no test.
    start = 0
    for i, l in enumerate(lines):
        if re.match(r"^\s*Send MODESENSE6", l):
            start = i + 1
            if start < len(lines) and re.match(r"^\s*\[[A-Z]+\]", lines[start]):
                start += 1
            break
    end = len(lines)
    while end > start and re.match(r"^\s*(Send PR(IN|OUT)/|$)", lines[end - 1]):
        end -= 1
    body = lines[start:end]
    # A [SKIPPED] after which the test sent no more commands skipped the whole test; one
    # followed by more commands only skipped a sub-check (the test keeps its PASS).
    # libiscsi says "Check if X is supported" before a sub-check it may skip and go on
    # (Sanitize.Reservations ends with one), "Check that X is supported" before skipping
    # the whole test: a [SKIPPED] right after a "Check if" line skips only that sub-check.
    def optional(i):
        j = i - 1
        while j >= 0 and not body[j].strip():
            j -= 1
        return j >= 0 and re.match(r"^\s*Check if .* supported", body[j])
    skips = [i for i, l in enumerate(body)
             if "[SKIPPED]" in l and not PARTIAL.search(l) and not optional(i)]
    sends = [i for i, l in enumerate(body) if re.match(r"^\s*Send ", l)]
    last_send = max(sends) if sends else -1
    whole = [i for i in skips if i > last_send]
    if whole:
        return "SKIP\t" + (clean(body[whole[0]].split("[SKIPPED]", 1)[1]) or "SKIPPED")
    partial = [l for l in body if "[SKIPPED]" in l]
    return "PASS\t" + ("partial skip: " + clean(partial[0].split("[SKIPPED]", 1)[1]) if partial else "")

out = sys.argv[1]
for t in open(os.path.join(out, "tests.txt")).read().split():
    print(t + "\t" + verdict(os.path.join(out, "raw", t)))
PY
echo "elapsed: $((SECONDS - T0)) s" >&2

cut -f2 "$OUT/results.tsv" | sort | uniq -c >&2
pass=$(awk -F'\t' '$2=="PASS"' "$OUT/results.tsv" | wc -l)
failn=$(awk -F'\t' '$2=="FAIL"' "$OUT/results.tsv" | wc -l)
skip=$(awk -F'\t' '$2=="SKIP"' "$OUT/results.tsv" | wc -l)
awk -F'\t' '$2!="PASS"{print "  " $2 "  " $1 "  " $3}' "$OUT/results.tsv" >&2
if [ $UPDATE = 1 ]; then
  awk -F'\t' '$2=="PASS"{print $1}' "$OUT/results.tsv" | grep -vxF -f "$ATOMIC_LIST" |
    sort > "$EXPECTED"
  echo "$EXPECTED updated: $(wc -l < "$EXPECTED") tests" >&2
fi
verdict() { awk -F'\t' -v t="$1" '$1==t{print $2; f=1} END{if(!f) print "NONE"}' "$OUT/results.tsv"; }
note() { awk -F'\t' -v t="$1" '$1==t{print $2 " " $3}' "$OUT/results.tsv"; }
bad=0
# The tests that must pass: the expected list, plus the atomic list where atomic writes are
# advertised. WriteAtomic16.Simple writes up to 256 blocks in steps of the granularity
# whatever MAXIMUM ATOMIC TRANSFER LENGTH says (see allowed-failures.txt): it is held to a
# pass only where that maximum covers it.
[ -f "$EXPECTED" ] || [ $UPDATE = 1 ] || fail "expected list $EXPECTED not found"
must=$( { [ -f "$EXPECTED" ] && cat "$EXPECTED"; } || true)
if [ "${ATOMIC_MAX:-0}" -gt 0 ]; then
  must+=$'\n'$(grep -v '^#' "$ATOMIC_LIST")
  if [ "$ATOMIC_MAX" -lt 256 ] && [ "${ATOMIC_GRAN:-1}" -le 256 ]; then
    must=$(echo "$must" | grep -vx 'ALL.WriteAtomic16.Simple' || true)
  fi
else
  # No atomic writes advertised: WRITE ATOMIC (16) must not be offered at all.
  while read -r t; do
    [ -n "$t" ] && grep -qx "$t" "$OUT/tests.txt" || continue
    if [ "$(verdict "$t")" != SKIP ]; then
      echo "ADVERTISED NONE: $t ($(note "$t")) although LUN 1 has no atomic writes" >&2
      bad=$((bad + 1))
    fi
  done < <(grep -v '^#' "$ATOMIC_LIST")
fi
if [ "${BLOCK_ERASE:-0}" = 0 ]; then
  # No BLOCK ERASE offered: Sanitize.BlockErase must see it unsupported and skip.
  must=$(echo "$must" | grep -vx 'ALL.Sanitize.BlockErase' || true)
  if grep -qx ALL.Sanitize.BlockErase "$OUT/tests.txt" &&
     [ "$(verdict ALL.Sanitize.BlockErase)" != SKIP ]; then
    echo "ADVERTISED NONE: ALL.Sanitize.BlockErase ($(note ALL.Sanitize.BlockErase))" \
      "although LUN 1 offers no BLOCK ERASE" >&2
    bad=$((bad + 1))
  fi
fi
while read -r t; do
  [ -n "$t" ] && grep -qx "$t" "$OUT/tests.txt" || continue
  if [ "$(verdict "$t")" != PASS ]; then
    echo "REGRESSION: $t ($(note "$t"))" >&2
    bad=$((bad + 1))
  fi
done <<< "$must"
# Every failure must be on the allow-list, which says why it is not ours.
while IFS=$'\t' read -r t v _; do
  [ "$v" = FAIL ] || continue
  if ! grep -v '^#' "$ALLOWED" | awk -v t="$t" '$1==t && NF>1{f=1} END{exit !f}'; then
    echo "NOT ALLOWED: $t ($(note "$t"))" >&2
    bad=$((bad + 1))
  fi
done < "$OUT/results.tsv"
stop_daemon
echo "conformance ($BSTYPE): $pass passed, $failn failed, $skip skipped"
[ $bad -eq 0 ] || fail "$bad test(s) outside what is expected and allowed"
