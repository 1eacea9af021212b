#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# README.md's "Using it" block works pasted in order from a fresh start: the lines between
# <!-- test-readme-examples: begin --> and <!-- test-readme-examples: end --> run as one
# bash script (every command must succeed), with only what keeps the test to itself
# changed: /srv is a folder of this test, the portal is 127.0.0.1 port 0, the admin socket
# is this test's ($MODTGT_SOCKET, which both programs read) and the daemon saves its
# configuration into this test's folder. modtgtd and modtgtadm come from the build tree
# through PATH, as the README says. Afterwards the state the block describes is checked.
source "$(dirname "$0")/functions.sh"
requires genisoimage truncate python3
README=$MODTGT_SRC/README.md

awk '/<!-- test-readme-examples: begin -->/ {on=1; next}
     /<!-- test-readme-examples: end -->/ {on=0}
     on && !/^```/' "$README" > "$TMP/block.sh"
[ "$(grep -c '^modtgt' "$TMP/block.sh")" -ge 20 ] ||
  fail "no example block in README.md (markers moved?): $(cat "$TMP/block.sh")"
grep -q '^modtgtd ' "$TMP/block.sh" || fail "the README block does not start modtgtd"

SRV=$TMP/srv
sed -e "s|/srv|$SRV|g" \
    -e "s|portal=0\.0\.0\.0:3260|portal=127.0.0.1:0|" \
    -e "s|^modtgtd |modtgtd --config $TMP/config.json |" \
    "$TMP/block.sh" > "$TMP/run.sh"
grep -q '/srv' <(sed "s|$SRV||g" "$TMP/run.sh") && fail "a /srv path was not redirected"
grep -q '3260' "$TMP/run.sh" && fail "a fixed port is left: $(grep 3260 "$TMP/run.sh")"

# The daemon the block starts forks; find it through its socket to stop it, also on failure.
export MODTGT_SOCKET=$SOCK
stop_readme_daemon() {
  local pid
  pid=$(adm --mode system --op show --json 2>/dev/null | json_get 'j["pid"]' 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup_fn stop_readme_daemon

rc=0
(cd "$TMP" && PATH=$MODTGT_BUILD:$PATH bash -e -o pipefail -x "$TMP/run.sh") \
  > "$TMP/run.out" 2>&1 || rc=$?
if [ $rc -ne 0 ]; then
  tail -n 40 "$TMP/run.out" >&2
  fail "the README example block failed (exit $rc) at the last command above"
fi

# The state the block leaves.
SHOW=$(adm --mode target --op show --tid 1 --json)
lu() { json_get "[l for l in j['targets'][0]['luns'] if l['lun'] == $1][0]$2" <<< "$SHOW"; }
luns=$(json_get "' '.join(str(l['lun']) for l in j['targets'][0]['luns'])" <<< "$SHOW")
[ "$luns" = "1 2 3 5" ] || fail "LUNs '$luns', expected '1 2 3 5' (4 was only checked)"
[ "$(lu 1 '["readonly"]')" = True ] || fail "LUN 1 is not read-only"
[ "$(lu 3 '["size"]')" = $((2 << 30)) ] || fail "LUN 3 was not resized to 2G"
[ "$(lu 3 '["write_cache"]')" = False ] || fail "LUN 3 still has its write cache on"
[ "$(lu 5 '["cfgstring"]')" = "optical/$SRV/disc2.iso" ] || fail "LUN 5 holds $(lu 5 '["cfgstring"]')"
acl=$(json_get 'j["targets"][0]["acl"]' <<< "$SHOW")
grep -q "ALL" <<< "$acl" && grep -q "iqn.1993-08.org.debian:01:host" <<< "$acl" || fail "ACL: $acl"
SYS=$(adm --mode system --op show --json)
for m in uring rdwr iscsi; do
  [ "$(json_get "[m['state'] for m in j['modules'] if m['name'] == '$m'][0]" <<< "$SYS")" = ready ] ||
    fail "module $m is not ready after the block"
done
[ "$(json_get 'len(j["portals"])' <<< "$SYS")" -ge 1 ] || fail "no portal after lldload"
stop_readme_daemon
