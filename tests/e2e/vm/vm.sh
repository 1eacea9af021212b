# SPDX-License-Identifier: Apache-2.0
# The test VM for the kernel-initiator tests (sourced after functions.sh): the guest is
# Debian's kernel + the initramfs of build-initramfs.sh (cached under $MODTGT_BUILD/vm-cache),
# networked with qemu user networking, restrict=on, and guestfwd rules to relay.py only.
#
#   vm_build               build (or reuse) the cache; skip (exit 77) when it cannot be
#                          built, fail in CI
#   vm_fwd IP HOST PORT    a guestfwd rule: guest IP:3260 -> relay.py -> HOST:PORT
#                          (HOST loopback); appended to VM_FWD
#   vm_boot APPEND         start the guest in the background with kernel command line
#                          APPEND; returns once its /init runs. KVM when /dev/kvm is usable
#                          (not under kvm-pvm), else TCG; when KVM does not reach /init
#                          within 60 s, it starts over under TCG. KERNEL_TEST_ACCEL=kvm|tcg
#                          forces the choice, KERNEL_TEST_TIMEOUT the guest's limit
#                          (default 180 s under KVM, 480 s under TCG)
#   vm_wait_for SECS CMD.. poll CMD (0.1 s) while the guest runs; fails when the guest
#                          ends or its time limit passes first; returns 1 after SECS
#   vm_wait_end            wait until the guest powers off (fails past its time limit);
#                          sets QEMU_RC
#   vm_result              fails unless the guest printed "KERNEL-ISCSI-RESULT: PASS"
#   show_console           the console's last 80 lines on stderr
# The guest console is $CONSOLE; each guest line starting KERNEL-ISCSI-STEP is progress.

VMDIR=$MODTGT_SRC/tests/e2e/vm
CACHE=$MODTGT_BUILD/vm-cache
CONSOLE=$TMP/console.log
QEMU_PID=
VM_FWD=
VM_APPEND=

kill_qemu() {
  if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
    kill -KILL "$QEMU_PID" 2>/dev/null || true
    wait "$QEMU_PID" 2>/dev/null || true
  fi
  QEMU_PID=
}
cleanup_fn kill_qemu
show_console() {
  echo "---- $TEST_NAME: guest console (last 80 lines) ----" >&2
  tail -n 80 "$CONSOLE" >&2 || true
}

vm_build() {
  requires qemu-system-x86_64 python3 cpio gzip flock
  mkdir -p "$CACHE"
  local brc=0
  flock "$CACHE/.lock" bash "$VMDIR/build-initramfs.sh" "$CACHE" || brc=$?
  if [ $brc -eq 2 ]; then
    [ "${CI:-}" = true ] && fail "cannot build the test VM (see above; CI must install it)"
    echo "SKIP: $TEST_NAME: cannot build the test VM (see above)" >&2
    exit 77
  fi
  [ $brc -eq 0 ] || fail "build-initramfs.sh failed ($brc)"
}

qarg() { printf '%s' "${1//,/,,}"; }   # qemu option values escape ',' as ',,'
vm_fwd() {
  VM_FWD+=",guestfwd=tcp:$1:3260-cmd:python3 $(qarg "$VMDIR/relay.py") $2 $3"
}

set_accel() {
  ACCEL_KIND=$1
  if [ "$ACCEL_KIND" = kvm ]; then
    ACCEL=(-enable-kvm -cpu host -smp 2)
    VM_TIMEOUT=${KERNEL_TEST_TIMEOUT:-180}
  else
    ACCEL=(-accel tcg -cpu max -smp 1)
    VM_TIMEOUT=${KERNEL_TEST_TIMEOUT:-480}
  fi
}
# KVM when /dev/kvm is usable. Not under kvm-pvm (the nested "pagetable-based VM" some
# sandboxes offer), which runs only guest kernels built for PVM: Debian's hangs there right
# after decompression.
ACCEL_KIND=${KERNEL_TEST_ACCEL:-}
if [ -z "$ACCEL_KIND" ]; then
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then
    ACCEL_KIND=kvm
  else
    ACCEL_KIND=tcg
  fi
fi
set_accel "$ACCEL_KIND"

_vm_start() {
  info "booting the guest ($ACCEL_KIND, limit ${VM_TIMEOUT}s)"
  : > "$CONSOLE"
  VM_STARTED=$SECONDS
  VM_DEADLINE=$((SECONDS + VM_TIMEOUT))
  qemu-system-x86_64 "${ACCEL[@]}" -m 512 -nodefaults -no-user-config -display none \
    -no-reboot -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initramfs.cpio.gz" -append "$VM_APPEND" \
    -serial "file:$CONSOLE" \
    -netdev "user,id=n0,restrict=on$VM_FWD" -device virtio-net-pci,netdev=n0 \
    < /dev/null > "$TMP/qemu.out" 2>&1 &
  QEMU_PID=$!
}
_vm_at_init() { grep -qa '^KERNEL-ISCSI-STEP: init' "$CONSOLE"; }
# _vm_check: 0 while the guest runs within its limit; 1 when it ended; fails past the limit.
_vm_check() {
  kill -0 "$QEMU_PID" 2>/dev/null || return 1
  if [ $SECONDS -ge $VM_DEADLINE ]; then
    kill_qemu
    show_console
    fail "the guest did not finish within ${VM_TIMEOUT}s"
  fi
  return 0
}
vm_boot() {
  VM_APPEND=$1
  _vm_start
  while ! _vm_at_init; do
    if ! _vm_check || { [ "$ACCEL_KIND" = kvm ] && [ $((SECONDS - VM_STARTED)) -ge 60 ]; }; then
      _vm_at_init && break   # it got there as it ended
      cat "$TMP/qemu.out" >&2
      kill_qemu
      [ "$ACCEL_KIND" = kvm ] || { show_console; fail "the guest did not reach its /init"; }
      info "KVM did not boot the guest kernel: retrying with TCG emulation"
      set_accel tcg
      _vm_start
      continue
    fi
    sleep 0.2
  done
}
vm_wait_for() {
  local secs=$1 end=$((SECONDS + $1))
  shift
  until "$@"; do
    if ! _vm_check; then
      show_console
      fail "the guest ended while the test waited for: $*"
    fi
    [ $SECONDS -lt $end ] || return 1
    sleep 0.1
  done
}
vm_wait_end() {
  while _vm_check; do sleep 0.2; done
  QEMU_RC=0
  wait "$QEMU_PID" || QEMU_RC=$?
  QEMU_PID=
  info "guest ran $((SECONDS - VM_STARTED))s (qemu exit $QEMU_RC)"
  if [ -s "$TMP/qemu.out" ]; then cat "$TMP/qemu.out" >&2; fi
}
vm_result() {
  grep -a '^KERNEL-ISCSI-STEP' "$CONSOLE" >&2 || true
  local result
  result=$(grep -a '^KERNEL-ISCSI-RESULT:' "$CONSOLE" | tail -n 1 | tr -d '\r' || true)
  if [ "$result" != "KERNEL-ISCSI-RESULT: PASS" ]; then
    show_console
    fail "guest reported '${result:-no result line}'"
  fi
}
