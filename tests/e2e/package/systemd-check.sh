#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs inside the throwaway root booted by systemd-nspawn (tests/e2e/test-package-chroot.sh,
# which fills in @IQN@), from modtgt-systemd-check.service. Drives modtgtd.service as an
# admin would and prints STEP lines, then exactly one "RESULT: PASS" or "RESULT: FAIL why";
# then powers the container off.
IQN=@IQN@
step() { echo "STEP: $*"; }
bad() {
  echo "RESULT: FAIL $*"
  systemctl status modtgtd --no-pager 2>&1 | head -n 20
  journalctl -u modtgtd --no-pager | tail -n 40
  systemctl poweroff
  exit 1
}
inq() { iscsi-inq "iscsi://127.0.0.1:3260/$IQN/1" | grep -q '^Vendor:MODTGT'; }

step "start (Type=notify: active once the daemon said READY=1)"
systemctl is-active modtgtd || bad "modtgtd.service is not active after boot"
systemctl show modtgtd -p Type -p ExecMainStatus
step "configure: target, ACL, a LUN on a file under /srv"
modtgtadm --lld iscsi --mode target --op new --tid 1 --targetname "$IQN" || bad "target new"
modtgtadm --mode target --op bind --tid 1 --initiator-address ALL || bad "target bind"
truncate -s 16M /srv/unit.img
modtgtadm --mode logicalunit --op new --tid 1 --lun 1 --backing-store /srv/unit.img ||
  bad "a LUN on /srv/unit.img"
step "initiator"
inq || bad "iscsi-inq"
step "reload"
systemctl reload modtgtd || bad "systemctl reload"
systemctl is-active modtgtd || bad "not active after reload"
step "restart keeps the configuration"
systemctl restart modtgtd || bad "systemctl restart"
modtgtadm --mode target --op show | grep -q 'unit.img' || bad "the LUN did not come back after a restart"
inq || bad "iscsi-inq after the restart"
step "stop"
systemctl stop modtgtd || bad "systemctl stop"
[ "$(systemctl show modtgtd -p Result --value)" = success ] ||
  bad "stop: $(systemctl show modtgtd -p Result -p ExecMainStatus)"
journalctl -u modtgtd --no-pager | tail -n 15
echo "RESULT: PASS"
systemctl poweroff
