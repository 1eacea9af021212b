# SPDX-License-Identifier: Apache-2.0
#
# Runs inside `cmake --install` (see ModtgtModulePc.cmake, which sets the _modtgt_pc_*
# variables just before): writes modtgt-module.pc for the actual CMAKE_INSTALL_PREFIX and
# installs it into <libdir>/pkgconfig.

# A GNUInstallDirs folder as a .pc value: ${prefix}/REL, or the absolute path as given.
function(_modtgt_pc_path out rel)
  if(IS_ABSOLUTE "${rel}")
    set(${out} "${rel}" PARENT_SCOPE)
  else()
    set(${out} "\${prefix}/${rel}" PARENT_SCOPE)
  endif()
endfunction()

set(PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
_modtgt_pc_path(PC_INCLUDEDIR "${_modtgt_pc_includedir}")
_modtgt_pc_path(PC_DATADIR "${_modtgt_pc_datadir}")
_modtgt_pc_path(PC_MODULEDIR "${_modtgt_pc_moduledir}")
configure_file("${_modtgt_pc_in}" "${_modtgt_pc_out}" @ONLY)

include(${CMAKE_CURRENT_LIST_DIR}/ModtgtInstallPath.cmake)
modtgt_install_path(_modtgt_pc_dest "${_modtgt_pc_libdir}/pkgconfig")
file(INSTALL DESTINATION "${_modtgt_pc_dest}" TYPE FILE FILES "${_modtgt_pc_out}")
