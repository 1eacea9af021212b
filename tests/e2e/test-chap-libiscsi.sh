#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CHAP with libiscsi's tools (which offer CHAP_A=5, MD5, only): an account bound to a
# target makes CHAP mandatory there: the right secret logs in (iscsi-inq), a wrong one or
# none gets Authentication Failure (0x0201), and the log names who failed without the
# secret. Mutual CHAP with the target's account (libiscsi's target_user/target_password,
# iscsi_set_target_username_pwd): the target proves itself; libiscsi refuses a target
# answering with another secret; an initiator asking for mutual CHAP where no outgoing
# account is bound is refused. Discovery CHAP: iscsi-ls with and without credentials.
source "$(dirname "$0")/functions.sh"
requires iscsi-inq iscsi-ls
IQN=iqn.2026-11.org.modtgt.test:chap
OPEN=iqn.2026-11.org.modtgt.test:open
SECRET=initiator-secret-1
TSECRET=target-secret-22
start_daemon
truncate -s 8M "$TMP/d.img"
new_target 1 $IQN
new_target 2 $OPEN
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/d.img"
adm --mode logicalunit --op new --tid 2 --lun 1 --bstype null --backing-store null0
echo "$SECRET" | adm --mode account --op new --user user1 --password -
echo "$TSECRET" | adm --mode account --op new --user target1 --password -
echo "other-secret-333" | adm --mode account --op new --user user2 --password -

URL="iscsi://$PORTAL/$IQN/1"
CRED="iscsi://user1%$SECRET@$PORTAL/$IQN/1"
# expect_refused WHAT CMD...: CMD must fail with libiscsi's "Authentication failure".
expect_refused() {
  local what=$1; shift
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [ $rc -ne 0 ] || fail "$what: logged in"
  echo "$out" | grep -qi "$REFUSAL" || fail "$what: not refused as expected: $out"
}

# No account bound: no CHAP, with or without credentials.
iscsi-inq "$URL" > /dev/null || fail "no account bound, yet the login failed"
iscsi-inq "$CRED" > /dev/null || fail "credentials offered to a target without CHAP refused"

adm --mode account --op bind --tid 1 --user user1
iscsi-inq "$CRED" | grep -q "Peripheral Device Type:DIRECT_ACCESS" || fail "CHAP login failed"
REFUSAL="Authentication failure"
expect_refused "wrong secret" iscsi-inq "iscsi://user1%wrong-secret-9@$PORTAL/$IQN/1"
expect_refused "no credentials" iscsi-inq "$URL"
expect_refused "an account not bound to this target" \
  iscsi-inq "iscsi://user2%other-secret-333@$PORTAL/$IQN/1"
# The other target has no account: still open.
iscsi-inq "iscsi://$PORTAL/$OPEN/1" > /dev/null || fail "CHAP leaked to another target"

# Mutual CHAP.
expect_refused "mutual CHAP without an outgoing account" \
  iscsi-inq "$CRED?target_user=target1&target_password=$TSECRET"
adm --mode account --op bind --tid 1 --user target1 --outgoing
iscsi-inq "$CRED?target_user=target1&target_password=$TSECRET" | grep -q DIRECT_ACCESS ||
  fail "mutual CHAP failed"
LIBISCSI_CHAP_TARGET_USERNAME=target1 LIBISCSI_CHAP_TARGET_PASSWORD=$TSECRET \
  iscsi-inq "$CRED" > /dev/null || fail "mutual CHAP through the environment failed"
REFUSAL="Invalid CHAP_R response from the target"
expect_refused "the initiator expects another target secret" \
  iscsi-inq "$CRED?target_user=target1&target_password=not-the-target-secret"
# One-way CHAP still works with an outgoing account bound.
iscsi-inq "$CRED" > /dev/null || fail "one-way CHAP failed once an outgoing account was bound"

# Discovery CHAP: iscsi-ls logs in to discovery, then to each target with the same account.
out=$(iscsi-ls -s "iscsi://user1%$SECRET@$PORTAL") || fail "iscsi-ls with credentials: $out"
grep -q "Target:$IQN" <<<"$out" || fail "iscsi-ls did not list $IQN: $out"
adm --mode account --op bind --tid 0 --user user1
REFUSAL="Authentication failure"
expect_refused "discovery without credentials" iscsi-ls "iscsi://$PORTAL"
out=$(iscsi-ls -s "iscsi://user1%$SECRET@$PORTAL") || fail "discovery CHAP failed: $out"
grep -q "Target:$IQN" <<<"$out" && grep -q "Lun:1" <<<"$out" ||
  fail "iscsi-ls with discovery CHAP did not list the target and its LUN: $out"
expect_refused "discovery with a wrong secret" iscsi-ls "iscsi://user1%wrong-secret-9@$PORTAL"
adm --mode account --op unbind --tid 0 --user user1
iscsi-ls "iscsi://$PORTAL" > /dev/null || fail "discovery still needs CHAP after unbind"

# The log: who failed and why, never a secret.
grep -q "login refused with status 0x0201 (authentication failure): initiator '[^']*' from 127.0.0.1:[0-9]* to target $IQN (tid 1): CHAP: user 'user1': wrong response" "$LOG" ||
  fail "no log line naming the user that failed"
grep -q "CHAP: user 'user2' is not bound to this target" "$LOG" || fail "unbound user not logged"
grep -q "no outgoing account is bound" "$LOG" || fail "mutual CHAP refusal not logged"
grep -q "(discovery session): CHAP is required" "$LOG" || fail "discovery refusal not logged"
grep -q "CHAP user 'user1' (MD5, mutual)" "$LOG" || fail "mutual CHAP session not logged"
for s in "$SECRET" "$TSECRET" other-secret-333 wrong-secret-9 not-the-target-secret; do
  if grep -qF -- "$s" "$LOG"; then fail "a secret reached the log: $s"; fi
done
stop_daemon
