#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every CHAP_A algorithm end to end, with a small Python initiator (tests/tools/
# iscsi_login.py, hashlib): 5 MD5, 6 SHA-1, 7 SHA-256, 8 SHA3-256, one-way and mutual, the
# target choosing by the initiator's order of preference, then an INQUIRY in full feature
# phase; a base64 response; and the refusals: wrong secret, a response one byte short, our
# own challenge reflected back in mutual CHAP, CHAP keys before CHAP_A, skipping the
# security stage, no algorithm in common. Discovery CHAP with SHA3-256.
source "$(dirname "$0")/functions.sh"
requires python3
LOGIN=$MODTGT_SRC/tests/tools/iscsi_login.py
IQN=iqn.2026-11.org.modtgt.test:chapalg
SECRET=initiator-secret-1
TSECRET=target-secret-22
start_daemon
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 0 --bstype null --backing-store null0
echo "$SECRET" | adm --mode account --op new --user user1 --password -
echo "$TSECRET" | adm --mode account --op new --user target1 --password -
adm --mode account --op bind --tid 1 --user user1
adm --mode account --op bind --tid 1 --user target1 --outgoing

# login ARGS...: runs the initiator against the target; prints its JSON; returns its status.
login() { python3 "$LOGIN" --port "$PORT" --target "$IQN" --user user1 --secret "$SECRET" "$@"; }
field() { json_get "j.get('$1')"; }

for alg in 5 6 7 8; do
  out=$(login --algorithms "$alg" --inquiry 0) || fail "CHAP_A=$alg: $out"
  [ "$(field algorithm <<<"$out")" = "$alg" ] || fail "CHAP_A=$alg: the target chose otherwise: $out"
  grep -q '"inquiry": "MODTGT' <<<"$out" || fail "CHAP_A=$alg: no INQUIRY answer: $out"
  out=$(login --algorithms "$alg" --target-user target1 --target-secret "$TSECRET" --inquiry 0) ||
    fail "mutual CHAP_A=$alg: $out"
  [ "$(field mutual_verified <<<"$out")" = True ] || fail "mutual CHAP_A=$alg: $out"
done
# The initiator's order of preference decides.
[ "$(login --algorithms SHA3-256,SHA256,MD5 | field algorithm)" = 8 ] || fail "preference 8,7,5"
[ "$(login --algorithms 6,8 | field algorithm)" = 6 ] || fail "preference 6,8"
[ "$(login --algorithms 4,99,7 | field algorithm)" = 7 ] || fail "unknown numbers skipped"
# Challenges are at least 16 bytes (32 here) and differ from login to login.
[ "$(login --algorithms 7 | field challenge_bytes)" = 32 ] || fail "challenge length"
login --algorithms 7 --base64 > /dev/null || fail "a base64 CHAP_R was refused"
login --algorithms 8 --target-user target1 --target-secret "$TSECRET" --challenge-bytes 16 \
  > /dev/null || fail "a 16-byte initiator challenge was refused"

# refused WHAT ARGS...: the login must fail with 0x0201.
refused() {
  local what=$1; shift
  local out rc=0
  out=$(login "$@") || rc=$?
  [ $rc -eq 1 ] && [ "$(field status <<<"$out")" = 0x0201 ] ||
    fail "$what: expected Authentication Failure, got rc $rc: $out"
}
refused "wrong secret" --algorithms 8 --secret wrong-secret-9
refused "a CHAP_R one byte short" --algorithms 7 --short-response
refused "our challenge reflected" --algorithms 5 --reflect --target-user target1 \
  --target-secret "$TSECRET"
refused "a mutual challenge of 15 bytes" --algorithms 5 --target-user target1 \
  --target-secret "$TSECRET" --challenge-bytes 15
refused "CHAP_N/CHAP_R before CHAP_A" --out-of-order
refused "no algorithm in common" --algorithms 1,2,3
refused "skipping the security stage" --skip-security
grep -q "the initiator sent our own challenge back" "$LOG" || fail "reflection not logged"
grep -q "CHAP_R of 31 bytes, SHA-256 gives 32" "$LOG" || fail "short response not logged"
grep -q "no algorithm in common" "$LOG" || fail "no common algorithm not logged"
grep -q "before CHAP_A (keys out of order)" "$LOG" || fail "keys out of order not logged"

# Discovery CHAP with SHA3-256.
adm --mode account --op bind --tid 0 --user user1
out=$(python3 "$LOGIN" --port "$PORT" --discovery) && fail "discovery without CHAP: $out"
out=$(python3 "$LOGIN" --port "$PORT" --discovery --user user1 --secret "$SECRET" \
  --algorithms 8) || fail "discovery CHAP: $out"
grep -q "$IQN" <<<"$out" || fail "SendTargets after discovery CHAP: $out"
for s in "$SECRET" "$TSECRET" wrong-secret-9; do
  if grep -qF -- "$s" "$LOG"; then fail "a secret reached the log: $s"; fi
done
stop_daemon
