#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ErrorRecoveryLevel 2 (RFC 7143 6.2.2): a connection with a half-received write and a read in
# flight is killed (RST); a Logout for recovery (reason 2) of it is sent on another connection;
# a new connection takes both tasks over with TASK REASSIGN: the write asks for the rest of its
# data and completes, the read sends its data again. Then a session's only connection dies
# with a write half done: a new connection joins the session by TSIH and takes it over.
# Every block is verified.
# Initiator: tests/tools/iscsi_recovery.py --scenario erl2.
source "$(dirname "$0")/functions.sh"
requires python3
IQN=iqn.2026-12.org.modtgt.test:erl2
start_daemon --threads 4
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 0 --bstype ram --backing-store ram/ \
  --bsopts size=8M
python3 "$MODTGT_SRC/tests/tools/iscsi_recovery.py" --port "$PORT" --target "$IQN" \
  --scenario erl2 || fail "scenario erl2 (log: $LOG)"
stop_daemon
