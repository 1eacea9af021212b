#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Minimal core dependencies (issue 3): modtgtd links no optional library and no transport
# (ISA-L and libcrypto, for CHAP, are carried by lld_iscsi.so: neither modtgtd nor
# libmodtgt-core.so needs them, directly or not), and the daemon starts and serves the other modules
# when one module's library dependency is missing: a transport whose library cannot be
# resolved and a backing store linked to a deleted library are listed in error / refused
# with the dlerror text, while iscsi + bs_null serve an initiator.
source "$(dirname "$0")/functions.sh"
requires ldd objdump iscsi-inq python3

# ---- 1. ldd: the daemon's dependencies ----
ldd "$MODTGTD" > "$TMP/ldd.out"
info "modtgtd: $(awk '{print $1}' "$TMP/ldd.out" | tr '\n' ' ')"
# The library names only (the paths may contain anything, e.g. the build folder's name).
if awk '{print $1}' "$TMP/ldd.out" | grep -Ei "isal|uring|ssl|crypto|rbd|iscsi|json" ||
   grep -q "not found" "$TMP/ldd.out"; then
  fail "modtgtd links an optional library (or has an unresolved one)"
fi
while read -r lib _; do
  case "$lib" in
    linux-vdso.so.*|libmodtgt-core.so|libstdc++.so.*|libgcc_s.so.*|libc.so.*|libm.so.*) ;;
    /lib64/ld-linux*|/lib/ld-linux*) ;;
    *) fail "unexpected library in ldd modtgtd: $lib" ;;
  esac
done < "$TMP/ldd.out"
grep -q "libmodtgt-core.so => .*/lib/modtgt/libmodtgt-core.so" "$TMP/ldd.out" ||
  fail "modtgtd does not find libmodtgt-core.so beside the modules"
# No transport compiled in: neither the binary nor its core library defines iSCSI code.
# (nm output goes to files: `nm | grep -q` fails under pipefail when grep exits early.)
for f in "$MODTGTD" "$MODULE_DIR/libmodtgt-core.so"; do
  nm -C --defined-only "$f" > "$TMP/nm.out" 2>/dev/null || true
  if grep -q "modtgt::iscsi::" "$TMP/nm.out"; then
    fail "$f has iSCSI transport code compiled in"
  fi
done
nm -C --defined-only "$MODULE_DIR/transport/lld_iscsi.so" > "$TMP/nm.out"
grep -q "modtgt::iscsi::IscsiTransport" "$TMP/nm.out" ||
  fail "the nm check cannot see the transport in lld_iscsi.so (is it stripped?)"
ldd "$MODULE_DIR/transport/lld_iscsi.so" > "$TMP/ldd-lld.out"
grep -q libisal "$TMP/ldd-lld.out" || fail "lld_iscsi.so does not carry ISA-L"
grep -q "libcrypto.so" "$TMP/ldd-lld.out" || fail "lld_iscsi.so does not carry libcrypto (CHAP)"
# libmodtgt-core.so (loaded by modtgtd and every module): no optional library at all.
ldd "$MODULE_DIR/libmodtgt-core.so" > "$TMP/ldd-core.out"
if awk '{print $1}' "$TMP/ldd-core.out" | grep -Ei "isal|uring|ssl|crypto|rbd|iscsi"; then
  fail "libmodtgt-core.so links an optional library"
fi
# Nor do they ask for one by name (DT_NEEDED), however ldd resolves it.
for f in "$MODTGTD" "$MODULE_DIR/libmodtgt-core.so"; do
  objdump -p "$f" | awk '$1 == "NEEDED" {print $2}' > "$TMP/needed.out"
  if grep -Ei "ssl|crypto|isal" "$TMP/needed.out"; then fail "$f needs an optional library"; fi
done
grep -q "libmodtgt-core.so => $MODULE_DIR/libmodtgt-core.so" "$TMP/ldd-lld.out" ||
  fail "lld_iscsi.so does not use the daemon's libmodtgt-core.so"
nm -D --defined-only "$MODULE_DIR/transport/lld_iscsi.so" > "$TMP/nmd.out"
exports=$(awk '$2 ~ /[TDRBW]/ {print $3}' "$TMP/nmd.out")
[ "$exports" = modtgt_transport_entry ] || fail "lld_iscsi.so exports more than its entry: $exports"

# ---- 2. a module folder with two modules whose dependency is missing ----
M=$TMP/modules
cp -r "$MODULE_DIR" "$M"
# A transport needing a library that is not installed: lld_iscsi.so with its libisal
# dependency renamed (same length) to a version that does not exist.
LC_ALL=C sed 's/libisal\.so\.2/libisal.so.9/' "$MODULE_DIR/transport/lld_iscsi.so" \
  > "$M/transport/lld_nodep.so"
grep -qa "libisal.so.9" "$M/transport/lld_nodep.so" || fail "could not prepare lld_nodep.so"
# A backing store linked to a library that was deleted (tests/abi: bs_missingdep).
MISSING=$MODTGT_BUILD/tests/modules/backing-store/bs_missingdep.so
[ -f "$MISSING" ] || fail "no $MISSING (build the unit tests first)"
cp "$MISSING" "$M/backing-store/"

MODULE_DIR=$M start_daemon --threads 2
adm --mode system --op show --json > "$TMP/show.json"
state() { json_get "{m['name']: (m['state'], m['error']) for m in j['modules'] if m['kind']=='$1'}" < "$TMP/show.json"; }
info "transports: $(state transport)"
[ "$(json_get '[t["state"] for t in j["transports"] if t["name"]=="iscsi"]' < "$TMP/show.json")" = "['ready']" ] ||
  fail "iscsi is not ready beside a broken transport"
json_get '[t["error"] for t in j["transports"] if t["name"]=="nodep" and t["state"]=="error"][0]' \
  < "$TMP/show.json" | grep -q "libisal.so.9: cannot open shared object file" ||
  fail "the broken transport is not listed with the dlerror text: $(state transport)"
# The backing store with a missing library: refused at start with the dlerror text
# (listed in error, or logged and skipped), the others loaded.
if ! state backing-store | grep -q "missingdep.*libmodtgt_test_gone"; then
  grep -q "libmodtgt_test_gone.*cannot open shared object file" "$LOG" ||
    fail "bs_missingdep's refusal does not show the dlerror text"
fi
[ "$(json_get '[m["state"] for m in j["modules"] if m["name"]=="null"]' < "$TMP/show.json")" = "['ready']" ] ||
  fail "bs_null is not ready"

# Loading them by hand: refused with the dlerror text, daemon unharmed.
rc=0; adm --mode system --op lldload --lld nodep > "$TMP/nodep.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "libisal.so.9" "$TMP/nodep.out" || fail "lldload nodep: rc $rc $(cat "$TMP/nodep.out")"
rc=0; adm --mode system --op bsload --bstype missingdep > "$TMP/md.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "libmodtgt_test_gone" "$TMP/md.out" || fail "bsload missingdep: rc $rc $(cat "$TMP/md.out")"

# The others serve an initiator.
IQN=iqn.2026-11.org.modtgt.test:deps
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype null --backing-store null0 --bsopts size=1G
iscsi-inq "iscsi://$PORTAL/$IQN/1" > /dev/null || fail "no login with a broken module beside"
# The broken transport in error can be dropped.
adm --mode system --op lldunload --lld nodep || fail "cannot drop the failed transport"
stop_daemon
