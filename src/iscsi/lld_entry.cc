// SPDX-License-Identifier: Apache-2.0
// The entry point of lld_iscsi.so (core/transport.h): the module's only exported symbol
// (src/iscsi/lld.syms). Built for, and only accepted by, this exact daemon version.
#include <new>

#include "core/transport.h"
#include "iscsi/options.h"
#include "iscsi/transport.h"
#include "modtgt/version.h"

namespace modtgt::iscsi {
namespace {

core::Transport* Create(const core::TransportContext* ctx, Status* error) {
  if (ctx == nullptr || ctx->loops.empty() || ctx->targets == nullptr) {
    if (error) *error = Status::Internal("iscsi: the daemon gave no event loops or no target registry");
    return nullptr;
  }
  TransportSettings settings;
  if (auto it = ctx->options.find("iscsi"); it != ctx->options.end()) {
    Result<TransportSettings> parsed = ParseTransportOptions(it->second);
    if (!parsed.ok()) {
      if (error) *error = Status::InvalidArgument("iscsi: " + parsed.status().message());
      return nullptr;
    }
    settings = *parsed;
  }
  auto* t = new (std::nothrow) IscsiTransport(ctx->loops, ctx->targets, ctx->accounts, settings);
  if (t != nullptr) t->SetPortalStats(ctx->portal_stats);
  return t;
}

constexpr core::TransportEntry kEntry = {
    sizeof(core::TransportEntry),
    MODTGT_PACKAGE_VERSION,
    "iscsi",
    "iSCSI over TCP (RFC 7143)",
    &Create,
};

}  // namespace
}  // namespace modtgt::iscsi

extern "C" __attribute__((visibility("default"))) const modtgt::core::TransportEntry*
modtgt_transport_entry() {
  return &modtgt::iscsi::kEntry;
}
