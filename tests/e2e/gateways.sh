# SPDX-License-Identifier: Apache-2.0
# Several modtgtd gateways exporting one LU with ALUA, for the failover tests (sourced
# after functions.sh). The caller sets IQN (the target name), CFG (the LU's cfgstring) and
# IDENT (its --params: the same scsi_sn and naa on every gateway).
#
#   gw NAME ADDR PORT        start gateway NAME listening on ADDR:PORT (0 = any), with its own
#                            socket, log and saved configuration ($TMP/NAME.sock, .log, .json);
#                            sets PID_NAME. Started again with the same NAME it restores its
#                            configuration.
#   adma ARGS / admb ARGS    modtgtadm on gateway a / b
#   setup_gateway ADM GROUP PEER   target 1 (IQN, open to every initiator) with explicit ALUA,
#                            target port group GROUP, peer group PEER; LUN 1 from CFG and IDENT
#   lu_state ADM             LUN 1's ALUA state as the gateway reports it
#   two_gateways             gateway a on 127.0.0.1 (group 1) and b on 127.0.0.2 (group 2),
#                            both set up, both standbys (checked); sets PORTAL_A, PORTAL_B
#   stop_gateways            SIGTERM to a and b; each must exit with status 0
gw() {
  local name=$1 addr=$2 port=$3
  "$MODTGTD" -f --iscsi "portal=$addr:$port" --socket "$TMP/$name.sock" \
    --module-dir "$MODULE_DIR" --config "$TMP/$name.json" --log-level info \
    >> "$TMP/$name.log" 2>&1 &
  eval "PID_$name=$!"
  wait_for 30 "$MODTGTADM" --socket "$TMP/$name.sock" --mode system --op show ||
    { tail -n 20 "$TMP/$name.log" >&2; fail "gateway $name does not start"; }
}
adma() { "$MODTGTADM" --socket "$TMP/a.sock" "$@"; }
admb() { "$MODTGTADM" --socket "$TMP/b.sock" "$@"; }
setup_gateway() {
  local adm=$1
  $adm --mode target --op new --tid 1 --targetname "$IQN"
  $adm --mode target --op bind --tid 1 --initiator-address ALL
  $adm --mode target --op update --tid 1 --params "alua_group=$2,alua_peers=$3,alua_mode=explicit"
  $adm --mode logicalunit --op new --tid 1 --lun 1 --cfgstring "$CFG" --params "$IDENT"
}
lu_state() {
  "$@" --mode logicalunit --op show --tid 1 --lun 1 --json | json_get 'j["luns"][0].get("alua_state")'
}
two_gateways() {
  gw a 127.0.0.1 0
  gw b 127.0.0.2 0
  setup_gateway adma 1 2
  setup_gateway admb 2 1
  PORTAL_A=$(adma --mode system --op show --json | json_get 'j["portals"][0]')
  PORTAL_B=$(admb --mode system --op show --json | json_get 'j["portals"][0]')
  info "gateway A $PORTAL_A (group 1), gateway B $PORTAL_B (group 2)"
  [ "$(lu_state adma)" = standby ] || fail "A does not start as a standby: $(lu_state adma)"
  [ "$(lu_state admb)" = standby ] || fail "B does not start as a standby: $(lu_state admb)"
}
stop_gateways() {
  local g p
  for g in a b; do
    p=$(eval echo "\${PID_$g}")
    kill -TERM "$p"
    wait "$p" || fail "gateway $g exited with status $?"
    eval "PID_$g="
  done
}
