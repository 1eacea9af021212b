#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ErrorRecoveryLevel 1 (RFC 7143 6.7): a Data-Out sent with a wrong data digest is discarded
# and asked for again with a recovery R2T (the session stays up); a Data-In reported lost is
# sent again on a Data SNACK, a whole read on an R-Data SNACK, an R2T on an R2T SNACK; a
# response not acknowledged is sent again on a Status SNACK; a SCSI Command whose immediate
# data fails the digest is rejected and its retry (same ITT and CmdSN) completes. Every
# block is read back.
# Initiator: tests/tools/iscsi_recovery.py --scenario erl1.
source "$(dirname "$0")/functions.sh"
requires python3
IQN=iqn.2026-12.org.modtgt.test:erl1
start_daemon --threads 4
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 0 --bstype ram --backing-store ram/ \
  --bsopts size=8M
python3 "$MODTGT_SRC/tests/tools/iscsi_recovery.py" --port "$PORT" --target "$IQN" \
  --scenario erl1 || fail "scenario erl1 (log: $LOG)"
stop_daemon
