#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Quick start (1): install what is needed, build, start modtgtd serving a demo LUN (a sparse
# 1 GiB file in ./demo) and print the iSCSI URL to connect to.
#   MODTGT_PORTAL  where to listen (default 127.0.0.1:3260)
#   MODTGT_SOCKET  admin socket (default /run/modtgt/modtgtd.sock)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
scripts/deps.sh build
scripts/build.sh
portal=${MODTGT_PORTAL:-127.0.0.1:3260}
export MODTGT_SOCKET=${MODTGT_SOCKET:-/run/modtgt/modtgtd.sock}
iqn=iqn.2026-11.org.modtgt:demo
adm() { "$top/build/modtgtadm" "$@"; }
if adm --mode system --op show >/dev/null 2>&1; then
  echo "demo: a modtgtd already answers on $MODTGT_SOCKET; stop it first (kill \$(pidof modtgtd))" >&2
  exit 1
fi
mkdir -p demo
[ -e demo/disk.img ] || truncate -s 1G demo/disk.img
# Ephemeral (--no-config): the demo saves nothing, so every run starts from scratch and
# nothing is written to /var/lib/modtgt. build/modtgtd finds build/lib/modtgt by itself.
build/modtgtd --no-config --iscsi portal="$portal" >> demo/modtgtd.log 2>&1
adm --mode target --op new --tid 1 --targetname "$iqn"
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype rdwr --backing-store "$top/demo/disk.img"
adm --mode target --op bind --tid 1 --initiator-address ALL
bound=$(adm --mode system --op show --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["portals"][0])')
echo
echo "modtgtd is running (log: $top/demo/modtgtd.log, admin socket: $MODTGT_SOCKET)"
echo "Demo LUN: $top/demo/disk.img (1 GiB, sparse)"
echo "Connect with:  iscsi://$bound/$iqn/1"
echo "  e.g.         iscsi-inq iscsi://$bound/$iqn/1"
echo "Stop with:     kill \$(pidof modtgtd)"
