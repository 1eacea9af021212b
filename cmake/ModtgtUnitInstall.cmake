# SPDX-License-Identifier: Apache-2.0
#
# Runs inside `cmake --install` (see ModtgtDist.cmake, which sets the _modtgt_unit_*
# variables just before): writes modtgtd.service for the actual CMAKE_INSTALL_PREFIX and
# installs it into MODTGT_SYSTEMD_UNITDIR.

if(IS_ABSOLUTE "${_modtgt_unit_sbindir}")
  set(MODTGT_UNIT_SBINDIR "${_modtgt_unit_sbindir}")
else()
  set(MODTGT_UNIT_SBINDIR "${CMAKE_INSTALL_PREFIX}/${_modtgt_unit_sbindir}")
endif()
configure_file("${_modtgt_unit_in}" "${_modtgt_unit_out}" @ONLY)

if(IS_ABSOLUTE "${_modtgt_unit_dir}")
  set(_modtgt_unit_dest "${_modtgt_unit_dir}")
else()
  set(_modtgt_unit_dest "${CMAKE_INSTALL_PREFIX}/${_modtgt_unit_dir}")
endif()
file(INSTALL DESTINATION "${_modtgt_unit_dest}" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES "${_modtgt_unit_out}")
