// SPDX-License-Identifier: Apache-2.0
#include "core/module_registry.h"

#include <gtest/gtest.h>

namespace modtgt::core {
namespace {

TEST(ModuleRegistry, StateNames) {
  EXPECT_STREQ(ModuleStateName(ModuleState::kError), "error");
}

}  // namespace
}  // namespace modtgt::core
