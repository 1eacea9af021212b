#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Conformance: runs libiscsi's iscsi-test-cu against a modtgtd set up for the most coverage
# (thin + removable LUN 1, read-only LUN 2, a second portal for the multipath tests), one
# iscsi-test-cu process per test so a skip is told apart from a pass and one test's state
# cannot leak into the next. Writes $OUT/results.tsv (test, PASS|FAIL|SKIP, note) and fails
# when a test listed in expected-pass.txt does not pass.
#
#   run.sh [--update] [--tests PATTERN] [OUTDIR]
#     --update   rewrite expected-pass.txt from this run's passes
#     --tests    a grep -E pattern over test names (default: all)
source "$(dirname "$0")/../e2e/functions.sh"
requires iscsi-test-cu python3 timeout
HERE=$(cd "$(dirname "$0")" && pwd)
UPDATE=0; PATTERN=.; OUT=
while [ $# -gt 0 ]; do
  case "$1" in
    --update) UPDATE=1; shift;;
    --tests) PATTERN=$2; shift 2;;
    *) OUT=$1; shift;;
  esac
done
OUT=${OUT:-$TMP/conformance}
mkdir -p "$OUT"
IQN=iqn.2026-11.org.modtgt.test:conformance

start_daemon --iscsi portal=127.0.0.1:0
PORTAL2=$(adm --mode system --op show --json | json_get 'j["portals"][1]')
truncate -s 1G "$TMP/lun1.img"
truncate -s 64M "$TMP/lun2.img"
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/lun1.img" \
  --params thin_provisioning=1,removable=1
adm --mode logicalunit --op new --tid 1 --lun 2 --backing-store "$TMP/lun2.img" --params readonly=1
URL=iscsi://$PORTAL/$IQN/1
MPURL=iscsi://$PORTAL2/$IQN/1
ROURL=iscsi://$PORTAL/$IQN/2

iscsi-test-cu -l | grep -E '^ALL\.[^.]+\.[^.]+$' | grep -E "$PATTERN" > "$OUT/tests.txt" || true
[ -s "$OUT/tests.txt" ] || fail "no test selected"
: > "$OUT/results.tsv"
n=0
while read -r t; do
  n=$((n + 1))
  d=$OUT/raw/$t; mkdir -p "$d"
  url=$URL
  case "$t" in ALL.ReadOnly.*) url=$ROURL;; esac
  rc=0
  ( cd "$d" && exec timeout -k 5 60 iscsi-test-cu -d -S -x -t "$t" "$url" "$MPURL" \
      > stdout.log 2> stderr.log < /dev/null ) || rc=$?
  verdict=$(python3 - "$d" "$rc" <<'PY'
import re, sys, os, html
d, rc = sys.argv[1], int(sys.argv[2])
xml = os.path.join(d, "CUnitAutomated-Results.xml")
txt = open(xml, errors="replace").read() if os.path.exists(xml) else ""
out = open(os.path.join(d, "stdout.log"), errors="replace").read()
if "<CUNIT_RUN_TEST_RECORD>" not in txt:
    print("FAIL\tno result (exit %d)" % rc)
elif "<CUNIT_RUN_TEST_FAILURE>" in txt:
    m = re.search(r"<CONDITION>(.*?)</CONDITION>", txt, re.S)
    print("FAIL\t" + html.unescape(m.group(1).strip() if m else "failed")[:200].replace("\t", " "))
elif "[SKIPPED]" in out:
    m = re.search(r"\[SKIPPED\][^\n]*", out)
    print("SKIP\t" + m.group(0)[:200])
else:
    print("PASS\t")
PY
)
  printf '%s\t%s\n' "$t" "$verdict" >> "$OUT/results.tsv"
  kill -0 "$DAEMON_PID" 2>/dev/null || fail "modtgtd died during $t"
done < "$OUT/tests.txt"

cut -f2 "$OUT/results.tsv" | sort | uniq -c >&2
pass=$(awk -F'\t' '$2=="PASS"' "$OUT/results.tsv" | wc -l)
failn=$(awk -F'\t' '$2=="FAIL"' "$OUT/results.tsv" | wc -l)
skip=$(awk -F'\t' '$2=="SKIP"' "$OUT/results.tsv" | wc -l)
awk -F'\t' '$2!="PASS"{print "  " $2 "  " $1 "  " $3}' "$OUT/results.tsv" >&2
if [ $UPDATE = 1 ]; then
  awk -F'\t' '$2=="PASS"{print $1}' "$OUT/results.tsv" | sort > "$HERE/expected-pass.txt"
  echo "expected-pass.txt updated: $pass tests" >&2
fi
regress=0
if [ -f "$HERE/expected-pass.txt" ]; then
  while read -r t; do
    grep -qx "$t" "$OUT/tests.txt" || continue
    if ! awk -F'\t' -v t="$t" '$1==t && $2=="PASS"{f=1} END{exit !f}' "$OUT/results.tsv"; then
      echo "REGRESSION: $t ($(awk -F'\t' -v t="$t" '$1==t{print $2 " " $3}' "$OUT/results.tsv"))" >&2
      regress=$((regress + 1))
    fi
  done < "$HERE/expected-pass.txt"
fi
stop_daemon
echo "conformance: $pass passed, $failn failed, $skip skipped"
[ $regress -eq 0 ] || fail "$regress expected test(s) no longer pass"
