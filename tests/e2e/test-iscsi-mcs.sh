#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Multiple connections per session (MC/S, RFC 7143 6.3.5): a second connection joins by TSIH
# (handed to the session's event loop: the daemon runs 4 loops), a third is refused with Too
# Many Connections, writes and reads in flight on both connections with every block verified,
# logout of one connection (reason 1) from the other while it keeps working, and a new
# connection joining in its place.
# Initiator: tests/tools/iscsi_recovery.py --scenario mcs.
source "$(dirname "$0")/functions.sh"
requires python3
IQN=iqn.2026-12.org.modtgt.test:mcs
start_daemon --threads 4
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 0 --bstype ram --backing-store ram/ \
  --bsopts size=8M
python3 "$MODTGT_SRC/tests/tools/iscsi_recovery.py" --port "$PORT" --target "$IQN" \
  --scenario mcs || fail "scenario mcs (log: $LOG)"
stop_daemon
