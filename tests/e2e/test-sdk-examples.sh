#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The module SDK works from an installation alone: `cmake --install` the build into a
# temporary prefix, build examples/bs_example_c (C) and examples/bs_example_cxx (C++,
# module.hpp) out of tree with make + `pkg-config modtgt-module` against that prefix only,
# start the INSTALLED modtgtd without them, `make install` them into the SDK's moduledir,
# bsload them at run time, and move 64 MiB of random data through a real initiator
# (qemu-img over iSCSI) in and out of a LUN on each. The XOR store's file must hold the
# data XOR the key; the RAM disk must read zeros where nothing was written. Also checks
# that the daemon's compiled-in default module folder is where the install puts modules.
source "$(dirname "$0")/functions.sh"
requires cmake make pkg-config cc c++ nm qemu-img cmp python3

P=$TMP/prefix
KEY=5a17c3a0ff  # 5 bytes: its phase differs from block to block

# ---- 1. install into a temporary prefix (no DESTDIR) ----
cmake --install "$MODTGT_BUILD" --prefix "$P" > "$TMP/install.log" 2>&1 ||
  { cat "$TMP/install.log" >&2; fail "cmake --install failed"; }
for f in sbin/modtgtd sbin/modtgtadm include/modtgt/module.h include/modtgt/module.hpp \
         include/modtgt/version.h share/modtgt/module.syms \
         lib/modtgt/backing-store/bs_null.so lib/modtgt/backing-store/bs_rdwr.so; do
  [ -f "$P/$f" ] || fail "cmake --install did not install $f"
done
[ -d "$P/lib/modtgt/transport" ] || fail "no lib/modtgt/transport folder"
PC=$(find "$P" -name modtgt-module.pc -print -quit)
[ -n "$PC" ] || fail "no modtgt-module.pc installed"
export PKG_CONFIG_PATH=${PC%/*}
unset CPATH C_INCLUDE_PATH CPLUS_INCLUDE_PATH PKG_CONFIG_LIBDIR || true
info "SDK: $PC"

# ---- 2. the pkg-config file describes this prefix and this daemon ----
CFLAGS_PC=$(pkg-config --cflags modtgt-module)
CFLAGS_PC=${CFLAGS_PC%% }  # pkg-config ends the line with a space
[ "$CFLAGS_PC" = "-I$P/include" ] || fail "Cflags: '$CFLAGS_PC', expected -I$P/include"
[ "$(pkg-config --variable=moduledir modtgt-module)" = "$P/lib/modtgt/backing-store" ] ||
  fail "moduledir: '$(pkg-config --variable=moduledir modtgt-module)'"
[ "$(pkg-config --variable=modulesyms modtgt-module)" = "$P/share/modtgt/module.syms" ] ||
  fail "modulesyms: '$(pkg-config --variable=modulesyms modtgt-module)'"
# "modtgtd 0.1.0 (module ABI 1.0)"
read -r _ DVERSION _ _ DABI < <("$P/sbin/modtgtd" --version)
DABI=${DABI%)}
[ "$(pkg-config --modversion modtgt-module)" = "$DVERSION" ] ||
  fail "pkg-config version $(pkg-config --modversion modtgt-module), modtgtd $DVERSION"
[ "$(pkg-config --variable=abi_version modtgt-module)" = "$DABI" ] ||
  fail "pkg-config abi_version $(pkg-config --variable=abi_version modtgt-module), modtgtd $DABI"
[ -z "$(pkg-config --libs modtgt-module | tr -d " ")" ] || fail "modules must link nothing of the daemon"

# ---- 3. the installed daemon's default module folder is where modules are installed ----
cache() { sed -n "s/^$1:[A-Z]*=//p" "$MODTGT_BUILD/CMakeCache.txt"; }
CFG_PREFIX=$(cache CMAKE_INSTALL_PREFIX)
CFG_MODDIR=$(cache MODTGT_MODULE_DIR)
if [ -n "$CFG_MODDIR" ] && [ "$CFG_MODDIR" != "$CFG_PREFIX/lib/modtgt" ]; then
  info "MODTGT_MODULE_DIR set explicitly to $CFG_MODDIR: default-folder check skipped"
else
  DEFAULT_DIR=$("$P/sbin/modtgtd" --help | sed -n 's/.*--module-dir DIR .*(default \(.*\))$/\1/p')
  [ "$DEFAULT_DIR" = "$CFG_PREFIX/lib/modtgt" ] ||
    fail "modtgtd's default --module-dir is '$DEFAULT_DIR', expected $CFG_PREFIX/lib/modtgt"
  DESTDIR=$TMP/staged cmake --install "$MODTGT_BUILD" > "$TMP/install-staged.log" 2>&1 ||
    { cat "$TMP/install-staged.log" >&2; fail "DESTDIR install failed"; }
  [ -f "$TMP/staged$DEFAULT_DIR/backing-store/bs_null.so" ] ||
    fail "a DESTDIR install does not put bs_null.so under the default $DEFAULT_DIR/backing-store"
  SPC=$(find "$TMP/staged" -name modtgt-module.pc -print -quit)
  grep -qx "prefix=$CFG_PREFIX" "$SPC" || fail "DESTDIR leaked into $SPC: $(grep ^prefix= "$SPC")"
  rm -rf "$TMP/staged"
fi

# ---- 4. build the examples out of tree, against the installed SDK only ----
for ex in c cxx; do
  cp -r "$MODTGT_SRC/examples/bs_example_$ex" "$TMP/bs_example_$ex"
  make -C "$TMP/bs_example_$ex" CFLAGS="-O2 -g -Wall -Wextra -Werror" \
       CXXFLAGS="-O2 -g -Wall -Wextra -Werror" > "$TMP/make-$ex.log" 2>&1 ||
    { cat "$TMP/make-$ex.log" >&2; fail "make of bs_example_$ex failed"; }
  grep -q -- "-I$P/include" "$TMP/make-$ex.log" || fail "bs_example_$ex not built with -I$P/include"
  make -C "$TMP/bs_example_$ex" check >&2 || fail "bs_example_$ex exports more than its entry point"
done

# ---- 5. the installed daemon, started without the examples ----
MODTGTD=$P/sbin/modtgtd
MODTGTADM=$P/sbin/modtgtadm
MODULE_DIR=$(dirname "$(pkg-config --variable=moduledir modtgt-module)")
start_daemon
modules() { adm --mode system --op show --json | json_get '" ".join(m["name"] for m in j["modules"])'; }
info "modules at start: $(modules)"
case " $(modules) " in *" example_"*) fail "an example module was loaded at start" ;; esac
rc=0
adm --mode system --op bsload --bstype example_c 2>"$TMP/err" || rc=$?
[ $rc -eq 8 ] || fail "bsload of a module not installed yet: exit $rc, expected 8 (no such module)"

# ---- 6. install them into the module folder of the running daemon and bsload them ----
for ex in c cxx; do
  make -C "$TMP/bs_example_$ex" install > /dev/null || fail "make install of bs_example_$ex"
  [ -f "$MODULE_DIR/backing-store/bs_example_$ex.so" ] || fail "make install put no bs_example_$ex.so"
  adm --mode system --op bsload --bstype example_$ex || fail "bsload example_$ex failed"
  state=$(adm --mode system --op show --json |
          json_get "[m['state'] for m in j['modules'] if m['name'] == 'example_$ex'][0]")
  [ "$state" = ready ] || fail "example_$ex is '$state' after bsload"
done

IQN=iqn.2026-11.org.modtgt.test:sdk
new_target 1 $IQN
# check_config of the C module refuses a LUN without a size, with its own message.
rc=0
adm --mode logicalunit --op new --tid 1 --lun 3 --bstype example_c --backing-store ram1 \
  2>"$TMP/err" || rc=$?
[ $rc -eq 9 ] || fail "example_c LUN without a size: exit $rc, expected 9 (module error)"
grep -q "needs a size" "$TMP/err" || fail "example_c's reason not shown: $(cat "$TMP/err")"
# ... and the C++ one a bad key (modtgt::Error thrown from CheckConfig).
rc=0
adm --mode logicalunit --op new --tid 1 --lun 3 --bstype example_cxx --backing-store "$TMP/x" \
  --bsopts key=zz 2>"$TMP/err" || rc=$?
[ $rc -eq 9 ] || fail "example_cxx LUN with a bad key: exit $rc, expected 9 (module error)"
grep -q "not hexadecimal" "$TMP/err" || fail "example_cxx's reason not shown: $(cat "$TMP/err")"

head -c 64M /dev/urandom > "$TMP/src.raw"
truncate -s 64M "$TMP/lun.xor"
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype example_c --backing-store ram0 \
  --params size=96M
adm --mode logicalunit --op new --tid 1 --lun 2 --bstype example_cxx \
  --backing-store "$TMP/lun.xor" --bsopts key=$KEY

# ---- 7. real-initiator round trips ----
# RAM disk: 64 MiB written into a 96 MiB LUN; the rest reads as zeros.
qemu-img convert -n -f raw -O raw "$TMP/src.raw" "iscsi://$PORTAL/$IQN/1" >/dev/null ||
  fail "qemu-img write to the example_c LUN failed"
qemu-img convert -f raw -O raw "iscsi://$PORTAL/$IQN/1" "$TMP/back1.raw" ||
  fail "qemu-img read of the example_c LUN failed"
[ "$(stat -c %s "$TMP/back1.raw")" -eq $((96 << 20)) ] ||
  fail "example_c LUN is $(stat -c %s "$TMP/back1.raw") bytes, expected --params size=96M"
cmp -n $((64 << 20)) "$TMP/src.raw" "$TMP/back1.raw" || fail "example_c: data read back differs"
cmp -i $((64 << 20)):0 -n $((32 << 20)) "$TMP/back1.raw" /dev/zero ||
  fail "example_c: unwritten blocks do not read as zeros"

# XOR store: the data comes back as written, and the file holds it XOR the key.
qemu-img convert -n -f raw -O raw "$TMP/src.raw" "iscsi://$PORTAL/$IQN/2" >/dev/null ||
  fail "qemu-img write to the example_cxx LUN failed"
qemu-img convert -f raw -O raw "iscsi://$PORTAL/$IQN/2" "$TMP/back2.raw" ||
  fail "qemu-img read of the example_cxx LUN failed"
cmp "$TMP/src.raw" "$TMP/back2.raw" || fail "example_cxx: data read back differs"
python3 - "$TMP/src.raw" "$TMP/lun.xor" "$KEY" <<'EOF' || fail "example_cxx: file is not data XOR key"
import sys
src = open(sys.argv[1], "rb").read()
stored = open(sys.argv[2], "rb").read()
key = bytes.fromhex(sys.argv[3])
stream = (key * (len(src) // len(key) + 1))[:len(src)]
expect = (int.from_bytes(src, "little") ^ int.from_bytes(stream, "little")).to_bytes(len(src), "little")
if stored != expect:
    sys.exit("stored bytes differ from src XOR key (first difference at %d)" %
             next(i for i in range(len(src)) if stored[i] != expect[i]))
EOF

# ---- 8. unload at run time ----
rc=0
adm --mode system --op bsunload --bstype example_c 2>"$TMP/err" || rc=$?
[ $rc -eq 7 ] || fail "bsunload of a module with a LUN: exit $rc, expected 7 (busy)"
adm --mode logicalunit --op delete --tid 1 --lun 1
adm --mode logicalunit --op delete --tid 1 --lun 2
adm --mode system --op bsunload --bstype example_c
adm --mode system --op bsunload --bstype example_cxx
case " $(modules) " in *" example_"*) fail "an example module is still listed after bsunload" ;; esac
stop_daemon
