#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Text requests in full feature phase (RFC 7143 6.2, 11.10, Appendix C): an unknown key gets
# NotUnderstood, a login-only key Reject, SendTargets with a bad value Reject and with the empty
# value the session's target; a new MaxRecvDataSegmentLength is declared without an answer and a
# long answer then comes in pieces asked for with the TTT.
# Initiator: tests/tools/iscsi_recovery.py --scenario text.
source "$(dirname "$0")/functions.sh"
requires python3
IQN=iqn.2026-12.org.modtgt.test:text
start_daemon --threads 4
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 0 --bstype ram --backing-store ram/ \
  --bsopts size=8M
python3 "$MODTGT_SRC/tests/tools/iscsi_recovery.py" --port "$PORT" --target "$IQN" \
  --scenario text || fail "scenario text (log: $LOG)"
stop_daemon
