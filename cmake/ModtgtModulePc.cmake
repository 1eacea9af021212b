# SPDX-License-Identifier: Apache-2.0
#
# Installs modtgt-module.pc, the pkg-config file of the module SDK.
#
# The file is generated when `cmake --install` runs, not at configure time, so its paths
# name the prefix the files really go to: `cmake --install build --prefix /opt/x` gives
# prefix=/opt/x even though CMAKE_INSTALL_PREFIX was /usr/local at configure time.
# DESTDIR is honoured (file(INSTALL)) and not written into the file, as packagers expect.
# It goes to <libdir>/pkgconfig, where pkg-config looks for it (on Debian with prefix /usr:
# /usr/lib/x86_64-linux-gnu/pkgconfig); the moduledir it names is always
# <prefix>/${MODTGT_INSTALL_MODULEDIR}/backing-store.

file(STRINGS ${CMAKE_SOURCE_DIR}/include/modtgt/module.h _modtgt_abi
     REGEX "^#define MODTGT_ABI_(MAJOR|MINOR) [0-9]+")
string(REGEX MATCH "MAJOR ([0-9]+)" _ "${_modtgt_abi}")
set(_modtgt_abi_major ${CMAKE_MATCH_1})
string(REGEX MATCH "MINOR ([0-9]+)" _ "${_modtgt_abi}")
set(_modtgt_abi_minor ${CMAKE_MATCH_1})
if(_modtgt_abi_major STREQUAL "" OR _modtgt_abi_minor STREQUAL "")
  message(FATAL_ERROR "cannot read MODTGT_ABI_MAJOR/MINOR from include/modtgt/module.h")
endif()

install(CODE "
  set(_modtgt_pc_in [[${CMAKE_CURRENT_LIST_DIR}/modtgt-module.pc.in]])
  set(_modtgt_pc_out [[${CMAKE_BINARY_DIR}/pkgconfig/modtgt-module.pc]])
  set(_modtgt_pc_includedir [[${CMAKE_INSTALL_INCLUDEDIR}]])
  set(_modtgt_pc_datadir [[${CMAKE_INSTALL_DATADIR}]])
  set(_modtgt_pc_libdir [[${CMAKE_INSTALL_LIBDIR}]])
  set(_modtgt_pc_moduledir [[${MODTGT_INSTALL_MODULEDIR}]])
  set(PC_VERSION [[${PROJECT_VERSION}]])
  set(PC_ABI_VERSION [[${_modtgt_abi_major}.${_modtgt_abi_minor}]])
")
install(SCRIPT ${CMAKE_CURRENT_LIST_DIR}/ModtgtModulePcInstall.cmake)
