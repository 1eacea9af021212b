// SPDX-License-Identifier: Apache-2.0
// The ABI layout as a C++ compiler sees it (see layout_asserts.h), plus the C++ layer.
#include "layout_asserts.h"
#include "modtgt/module.hpp"

#include <type_traits>

static_assert(std::is_standard_layout_v<modtgt_backing_store>);
static_assert(std::is_trivially_copyable_v<modtgt_backing_store>);
static_assert(std::is_standard_layout_v<modtgt_host>);
static_assert(std::is_standard_layout_v<modtgt_dev_config>);

int modtgt_abi_layout_checked_in_cxx();
int modtgt_abi_layout_checked_in_cxx() { return 1; }
