// SPDX-License-Identifier: Apache-2.0
// core::Transport's key function: its vtable and type info live in libmodtgt-core.so, so
// the daemon and every transport module share one copy.
#include "core/transport.h"

namespace modtgt::core {

Transport::~Transport() = default;

}  // namespace modtgt::core
