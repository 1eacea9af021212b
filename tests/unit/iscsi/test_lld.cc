// SPDX-License-Identifier: Apache-2.0
// Broken transport modules for lld_registry_test.cc, one defect each (selected by
// TEST_LLD_* definitions; built by the top-level CMakeLists.txt into
// <build>/tests/modules/transport/lld_NAME.so). None links the core: they are refused,
// or fail, before a transport would exist.
#include <string>

#include "core/transport.h"
#include "modtgt/version.h"

#ifndef TEST_LLD_NAME
#define TEST_LLD_NAME "test"
#endif
#ifdef TEST_LLD_OLD_VERSION
#define TEST_LLD_VERSION "0.0.1-old"
#else
#define TEST_LLD_VERSION MODTGT_PACKAGE_VERSION
#endif

namespace {

modtgt::core::Transport* Create(const modtgt::core::TransportContext*, modtgt::Status* error) {
  *error = modtgt::Status::Unavailable("test transport refuses to start");
  return nullptr;
}

[[maybe_unused]] constexpr modtgt::core::TransportEntry kEntry = {
#ifdef TEST_LLD_SMALL
    sizeof(modtgt::core::TransportEntry) - 8,
#else
    sizeof(modtgt::core::TransportEntry),
#endif
    TEST_LLD_VERSION,
    TEST_LLD_NAME,
    "test transport",
    &Create,
};

}  // namespace

#ifndef TEST_LLD_NO_ENTRY
extern "C" __attribute__((visibility("default"))) const modtgt::core::TransportEntry*
modtgt_transport_entry() {
  return &kEntry;
}
#endif
