// SPDX-License-Identifier: Apache-2.0
// TargetRegistry as EXTENDED COPY's CopyTargetResolver (scsi/xcopy.h): which LUs an I_T
// nexus may name as copy targets. The rule is the one login applies: the nexus's own
// target, or another target whose ACL would let this initiator (name and address) log in.
// Anything else resolves to nothing, as an LU that does not exist would (CVE-2020-28374:
// a copy manager that resolved any LU of the daemon let an initiator read and write LUs it
// was never given).
#include <sys/socket.h>

#include "core/accounts.h"
#include "core/target.h"

namespace modtgt::core {

std::shared_ptr<scsi::LogicalUnit> TargetRegistry::ResolveCopyTarget(const scsi::Nexus& nexus,
                                                                     const uint8_t* naa,
                                                                     size_t len) const {
  // The nexus's own target: logged in, so its LUs are reachable.
  if (nexus.target) {
    if (auto lu = scsi::FindLuByNaa(*nexus.target, naa, len)) return lu;
  }
  const auto* peer = reinterpret_cast<const sockaddr*>(&nexus.initiator_address);
  const AccountRegistry* accounts = accounts_.load(std::memory_order_acquire);
  for (const std::shared_ptr<Target>& t : List()) {
    if (static_cast<const scsi::TargetView*>(t.get()) == nexus.target.get()) continue;
    if (!t->AllowsInitiator(peer, nexus.initiator_name)) continue;
    if (accounts != nullptr && !accounts->BindingOf(t->tid()).incoming.empty()) continue;
    if (auto lu = scsi::FindLuByNaa(*t, naa, len)) return lu;
  }
  return nullptr;
}

}  // namespace modtgt::core
