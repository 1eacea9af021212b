#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `cmake --install` lays out what a package or an admin needs, and the service pieces are
# valid:
#   1. with DESTDIR and prefix /usr: the programs, the modules, libmodtgt-core.so, the SDK
#      (headers, modtgt-module.pc, module.syms, module-sdk.md, examples/), the man pages
#      and the systemd unit are where they belong, and nothing lands anywhere else;
#   2. the man pages render without a single groff/man warning (what lintian runs), and
#      each documents every long option its program's --help lists;
#   3. modtgtd.service: ExecStart names the installed daemon (also for another prefix),
#      every flag of ExecStart is one the daemon accepts, `systemd-analyze verify` accepts
#      the unit (in a private mount namespace where an overlay adds the staged modtgtd to
#      /usr/sbin: nothing is installed on this machine and the unit is never started), and
#      `systemd-analyze security` keeps its exposure at 3.0 or below.
source "$(dirname "$0")/functions.sh"
requires cmake man groff col systemd-analyze unshare mount python3

R=$TMP/root
DESTDIR=$R cmake --install "$MODTGT_BUILD" --prefix /usr > "$TMP/install.log" 2>&1 ||
  { cat "$TMP/install.log" >&2; fail "cmake --install failed"; }

# ---- 1. the layout ----
MULTIARCH=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$MODTGT_BUILD/CMakeCache.txt")
UNITDIR=$(sed -n 's/^MODTGT_SYSTEMD_UNITDIR:[A-Z]*=//p' "$MODTGT_BUILD/CMakeCache.txt")
case $UNITDIR in /*) ;; *) UNITDIR=/usr/$UNITDIR ;; esac
expected=(
  usr/sbin/modtgtd usr/sbin/modtgtadm
  usr/lib/modtgt/libmodtgt-core.so usr/lib/modtgt/transport/lld_iscsi.so
  usr/lib/modtgt/backing-store/bs_rdwr.so usr/lib/modtgt/backing-store/bs_null.so
  usr/lib/modtgt/backing-store/bs_ram.so usr/lib/modtgt/backing-store/bs_optical.so
  usr/lib/modtgt/backing-store/bs_uring.so
  usr/include/modtgt/module.h usr/include/modtgt/module.hpp usr/include/modtgt/version.h
  "usr/${MULTIARCH:-lib}/pkgconfig/modtgt-module.pc" usr/share/modtgt/module.syms
  usr/share/doc/modtgt/module-sdk.md
  usr/share/doc/modtgt/examples/bs_example_c/Makefile
  usr/share/doc/modtgt/examples/bs_example_c/example_c.c
  usr/share/doc/modtgt/examples/bs_example_cxx/example_cxx.cc
  usr/share/doc/modtgt/examples/bs_file_callouts/file_callouts.c
  usr/share/doc/modtgt/examples/bs_file_takeover/file_takeover.c
  usr/share/man/man8/modtgtd.8 usr/share/man/man8/modtgtadm.8
  usr/share/man/man3/modtgt-module.3
  "${UNITDIR#/}/modtgtd.service"
)
# bs_rbd is built when librbd/librados are there (scripts/deps.sh installs them).
[ -f "$MODTGT_BUILD/lib/modtgt/backing-store/bs_rbd.so" ] &&
  expected+=(usr/lib/modtgt/backing-store/bs_rbd.so)
for f in "${expected[@]}"; do
  [ -f "$R/$f" ] || fail "cmake --install did not install /$f"
done
[ -x "$R/usr/sbin/modtgtd" ] && [ -x "$R/usr/sbin/modtgtadm" ] || fail "programs not executable"
# Nothing outside the expected folders (tests, example builds, build-tree files).
stray=$(cd "$R" && find . -type f | sed 's|^\./||' |
  grep -vE "^usr/(sbin/modtgtd|sbin/modtgtadm|lib/modtgt/|include/modtgt/|share/modtgt/|share/doc/modtgt/|share/man/man[38]/modtgt|${MULTIARCH:-lib}/pkgconfig/modtgt-module\.pc$)" |
  grep -vx "${UNITDIR#/}/modtgtd.service" || true)
[ -z "$stray" ] || fail "unexpected files installed: $stray"
[ -z "$(find "$R/usr/share/doc/modtgt/examples" -name CMakeLists.txt)" ] ||
  fail "the in-tree CMakeLists.txt of the examples were installed"

# The ABI the SDK describes is the daemon's.
ABI=$(sed -n 's/^abi_version=//p' "$R/usr/${MULTIARCH:-lib}/pkgconfig/modtgt-module.pc")
HDR=$(sed -n 's/^#define MODTGT_ABI_MAJOR \([0-9]*\)$/\1/p;s/^#define MODTGT_ABI_MINOR \([0-9]*\)$/.\1/p' \
  "$MODTGT_SRC/include/modtgt/module.h" | tr -d '\n')
[ "$ABI" = "$HDR" ] || fail "modtgt-module.pc abi_version=$ABI, module.h says $HDR"
"$MODTGTD" --version | grep -qF "(module ABI $ABI)" || fail "modtgtd --version: $("$MODTGTD" --version)"

# ---- 2. man pages ----
for page in "$R"/usr/share/man/man*/*; do
  # The check lintian runs; any output is a warning.
  warn=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
  [ -z "$warn" ] || fail "$(basename "$page"): $warn"
  warn=$(groff -ww -z -man "$page" 2>&1)
  [ -z "$warn" ] || fail "$(basename "$page") (groff -ww): $warn"
  grep -q '@[A-Z_]*@' "$page" && fail "$(basename "$page") has an unfilled @PLACEHOLDER@"
done
# Every long option of --help is documented.
for prog in modtgtd modtgtadm; do
  text=$(MANWIDTH=200 man -l "$R/usr/share/man/man8/$prog.8" 2>/dev/null | col -b)
  for opt in $("$MODTGT_BUILD/$prog" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    grep -qF -- "$opt" <<< "$text" || fail "$prog.8 does not document $opt"
  done
done

# ---- 3. the systemd unit ----
UNIT=$R$UNITDIR/modtgtd.service
grep -qx 'ExecStart=/usr/sbin/modtgtd --foreground --log-target journal' "$UNIT" ||
  fail "ExecStart: $(grep ^ExecStart= "$UNIT")"
grep -qx 'Type=notify' "$UNIT" || fail "not Type=notify"
# The daemon accepts every flag the unit passes (--help after them: parsed, then exit 0).
read -r -a flags <<< "$(sed -n 's/^ExecStart=[^ ]* //p' "$UNIT")"
"$MODTGTD" "${flags[@]}" --help > /dev/null 2> "$TMP/flags.err" ||
  fail "modtgtd refuses the unit's flags ${flags[*]}: $(cat "$TMP/flags.err")"
# Another prefix: ExecStart follows it.
DESTDIR=$TMP/opt cmake --install "$MODTGT_BUILD" --prefix /opt/modtgt > "$TMP/install2.log" 2>&1 ||
  { cat "$TMP/install2.log" >&2; fail "cmake --install --prefix /opt/modtgt failed"; }
U2=$(find "$TMP/opt" -name modtgtd.service)
grep -q '^ExecStart=/opt/modtgt/sbin/modtgtd ' "$U2" || fail "--prefix /opt/modtgt: $(grep ^ExecStart= "$U2")"
rm -rf "$TMP/opt"

if [ "$(id -u)" != 0 ]; then
  [ "${CI:-}" = true ] && fail "systemd-analyze verify needs root here (a private mount namespace)"
  echo "SKIP: $TEST_NAME: systemd-analyze verify needs root (a private mount namespace)" >&2
  exit 77
fi
# Inside a private mount namespace (gone when the command ends), /usr/sbin is an overlay
# of the staged sbin on top of the real one, so ExecStart exists; MANPATH finds the
# staged man pages for Documentation=.
VERIFY='mount -t overlay modtgt-verify -o "lowerdir=$1/usr/sbin:/usr/sbin" /usr/sbin &&
  systemd-analyze verify "$2" && systemd-analyze security --offline=yes --threshold=30 "$2"'
MANPATH=$R/usr/share/man unshare -m --propagation private sh -c "$VERIFY" sh "$R" "$UNIT" \
  > "$TMP/verify.out" 2>&1 || { cat "$TMP/verify.out" >&2; fail "systemd-analyze rejects modtgtd.service"; }
info "$(tail -n 1 "$TMP/verify.out")"
