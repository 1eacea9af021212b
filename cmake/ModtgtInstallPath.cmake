# SPDX-License-Identifier: Apache-2.0
#
# For the scripts that run inside `cmake --install` (ModtgtModulePcInstall.cmake,
# ModtgtUnitInstall.cmake): modtgt_install_path(OUT PATH) sets OUT to PATH when it is
# absolute, else to ${CMAKE_INSTALL_PREFIX}/PATH with the prefix of this install (which
# `cmake --install --prefix` may have changed since configure time).
function(modtgt_install_path out path)
  if(IS_ABSOLUTE "${path}")
    set(${out} "${path}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${path}" PARENT_SCOPE)
  endif()
endfunction()
