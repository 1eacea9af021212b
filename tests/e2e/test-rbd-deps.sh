#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Only bs_rbd.so links Ceph (issue 13): ldd of modtgtd, libmodtgt-core.so and every other
# module shows no librbd, librados or libceph-common, while bs_rbd.so links librbd and
# librados and exports only modtgt_module_init. At run time a daemon started without the
# rbd module has no Ceph library mapped; `bsload rbd` maps them, and unload/load cycles of
# the module keep the daemon serving. No cluster needed.
source "$(dirname "$0")/functions.sh"
requires ldd nm iscsi-inq python3
RBD_SO=$MODULE_DIR/backing-store/bs_rbd.so
if [ ! -f "$RBD_SO" ]; then
  [ "${CI:-}" = true ] && fail "bs_rbd.so was not built (librbd-dev/librados-dev missing?)"
  echo "SKIP: $TEST_NAME: bs_rbd.so not built (librbd-dev, librados-dev)" >&2
  exit 77
fi
CEPH_LIBS='librbd|librados|libceph|libradosstriper'

# ---- 1. link time ----
checked=0
while IFS= read -r f; do
  [ "$f" = "$RBD_SO" ] && continue
  ldd "$f" > "$TMP/ldd.out" 2>&1 || fail "ldd $f: $(cat "$TMP/ldd.out")"
  # Library names only: a build folder's path may contain anything (this one: "bs-rbd").
  if sed "s| => /.*||" "$TMP/ldd.out" | grep -Eq "$CEPH_LIBS"; then
    fail "$f links Ceph: $(grep -E "$CEPH_LIBS" "$TMP/ldd.out" | tr '\n' ' ')"
  fi
  grep -q "not found" "$TMP/ldd.out" && fail "$f has an unresolved library: $(cat "$TMP/ldd.out")"
  checked=$((checked + 1))
done < <(printf '%s\n' "$MODTGTD" "$MODTGTADM"; find "$MODULE_DIR" -name '*.so' | sort)
[ $checked -ge 7 ] || fail "only $checked files checked: is the build complete?"
info "$checked files free of Ceph libraries"
ldd "$RBD_SO" > "$TMP/ldd-rbd.out"
grep -q "librbd.so" "$TMP/ldd-rbd.out" || fail "bs_rbd.so does not link librbd"
grep -q "librados.so" "$TMP/ldd-rbd.out" || fail "bs_rbd.so does not link librados"
grep -q "not found" "$TMP/ldd-rbd.out" && fail "bs_rbd.so: $(cat "$TMP/ldd-rbd.out")"
nm -D --defined-only "$RBD_SO" > "$TMP/nm.out"
exports=$(awk '$2 ~ /[TDRBWiu]/ {print $3}' "$TMP/nm.out")
[ "$exports" = modtgt_module_init ] || fail "bs_rbd.so exports more than its entry: $exports"
nm -D "$RBD_SO" | awk '$1 == "u" || $2 == "u"' > "$TMP/unique.out"
[ -s "$TMP/unique.out" ] && fail "bs_rbd.so has STB_GNU_UNIQUE symbols (dlclose could not unmap it): $(head -3 "$TMP/unique.out")"

# ---- 2. run time ----
mapped() { grep -Eo "/[^ ]*(${CEPH_LIBS})[^ /]*\.so[^ ]*" "/proc/$DAEMON_PID/maps" | sort -u; }
start_daemon --bstype rdwr,null
[ -z "$(mapped)" ] || fail "Ceph libraries mapped without the rbd module: $(mapped)"
IQN=iqn.2026-11.org.modtgt.test:deps
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype null --backing-store null0 --bsopts size=1G
adm --mode system --op bsload --bstype rbd
mapped | grep -q librbd || fail "bsload rbd did not map librbd"
state() { adm --mode system --op show --json | json_get '[m["state"] for m in j["modules"] if m["name"]=="rbd"]'; }
[ "$(state)" = "['ready']" ] || fail "rbd module state: $(state)"
adm --mode system --op show --json | json_get '[m["cfg_desc"] for m in j["modules"] if m["name"]=="rbd"][0]' |
  grep -q "POOL" || fail "the rbd module lists no cfg_desc"
for i in 1 2 3; do
  adm --mode system --op bsunload --bstype rbd
  adm --mode system --op bsload --bstype rbd
done
adm --mode system --op bsreload --bstype rbd
[ "$(state)" = "['ready']" ] || fail "rbd module state after unload/load cycles: $(state)"
iscsi-inq "iscsi://$PORTAL/$IQN/1" > /dev/null || fail "the daemon does not serve after rbd unload/load cycles"
grep -q "still mapped after dlclose" "$LOG" && info "note: $(grep -m1 'still mapped' "$LOG")"
stop_daemon
