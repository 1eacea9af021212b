# SPDX-License-Identifier: Apache-2.0
#
# What `cmake --install` puts beside the programs, modules and SDK headers:
#   <mandir>/man8/modtgtd.8, modtgtadm.8   <mandir>/man3/modtgt-module.3   (docs/man/)
#   <docdir>/module-sdk.md, <docdir>/examples/   (the SDK guide and the example modules)
#   <MODTGT_SYSTEMD_UNITDIR>/modtgtd.service      (dist/systemd/modtgtd.service.in)
#
# The unit is written when `cmake --install` runs, like modtgt-module.pc, so its ExecStart
# names the sbin folder of the prefix the files really go to (`--prefix /opt/x` gives
# /opt/x/sbin/modtgtd). DESTDIR is honoured and not written into the file.

set(MODTGT_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "Where modtgtd.service is installed: relative to the install prefix, or absolute (Debian 12: /lib/systemd/system)")

# Man pages: the version is filled in at configure time.
set(VERSION ${PROJECT_VERSION})
foreach(page modtgtd.8 modtgtadm.8 modtgt-module.3)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
  configure_file(${CMAKE_SOURCE_DIR}/docs/man/${page} ${CMAKE_BINARY_DIR}/man/${page} @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/man/${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
unset(VERSION)

# The SDK guide and the example modules (their Makefiles build against the installed SDK;
# the CMakeLists.txt files only serve the in-tree build of the tests).
install(FILES ${CMAKE_SOURCE_DIR}/docs/module-sdk.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        PATTERN CMakeLists.txt EXCLUDE)

install(CODE "
  set(_modtgt_unit_in [[${CMAKE_SOURCE_DIR}/dist/systemd/modtgtd.service.in]])
  set(_modtgt_unit_out [[${CMAKE_BINARY_DIR}/dist/modtgtd.service]])
  set(_modtgt_unit_sbindir [[${CMAKE_INSTALL_SBINDIR}]])
  set(_modtgt_unit_dir [[${MODTGT_SYSTEMD_UNITDIR}]])
")
install(SCRIPT ${CMAKE_CURRENT_LIST_DIR}/ModtgtUnitInstall.cmake)
