# SPDX-License-Identifier: Apache-2.0
#
# Runs inside `cmake --install` (see ModtgtDist.cmake, which sets the _modtgt_unit_*
# variables just before): writes modtgtd.service for the actual CMAKE_INSTALL_PREFIX and
# installs it into MODTGT_SYSTEMD_UNITDIR.

include(${CMAKE_CURRENT_LIST_DIR}/ModtgtInstallPath.cmake)
modtgt_install_path(MODTGT_UNIT_SBINDIR "${_modtgt_unit_sbindir}")
configure_file("${_modtgt_unit_in}" "${_modtgt_unit_out}" @ONLY)
modtgt_install_path(_modtgt_unit_dest "${_modtgt_unit_dir}")
file(INSTALL DESTINATION "${_modtgt_unit_dest}" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES "${_modtgt_unit_out}")
