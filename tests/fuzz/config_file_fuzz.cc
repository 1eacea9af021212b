// SPDX-License-Identifier: Apache-2.0
// Fuzzes the saved configuration's reader (core::ParseSavedConfig: strict JSON, every field
// checked with its place) and what a start does with a file that parses: the checks of
// --check-config, then a restore into an empty daemon (targets, ACLs, accounts, LUNs of
// bs_null when it was built; other stores come back offline). Invariants: a file that
// parses serialises back to text that parses to the same value; nothing crashes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "admin_fuzz_common.h"
#include "core/accounts.h"
#include "core/config_apply.h"
#include "core/saved_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modtgt;  // NOLINT: fuzz harness
  SetLogLevel(LogLevel::kError);
  if (size > (256u << 10)) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<core::SavedConfig> c = core::ParseSavedConfig(text);
  if (!c.ok()) {
    if (c.status().message().empty()) std::abort();  // every refusal says why
    return 0;
  }
  Result<core::SavedConfig> again = core::ParseSavedConfig(core::SerializeSavedConfig(*c));
  if (!again.ok() || !(*again == *c)) std::abort();

  fuzz::FuzzModules& modules = fuzz::FuzzModules::Get();
  modules.Restore();
  core::TargetRegistry targets;
  core::AccountRegistry accounts;
  core::CoreObjects objs{&targets, modules.registry(), nullptr, modules.dir(), &accounts};
  core::ApplyReport report;
  (void)core::ApplyConfig(*c, objs, core::ApplyMode::kCheck, false, &report);
  if (core::ApplyConfig(*c, objs, core::ApplyMode::kStart, false, &report).ok()) {
    // What was restored is what a dump saves: it parses again.
    if (!core::ParseSavedConfig(core::SerializeSavedConfig(core::Snapshot(objs))).ok()) {
      std::abort();
    }
  }
  for (const auto& t : targets.List()) {
    (void)targets.Remove(t->tid(), /*force=*/true);
    for (uint64_t lun : t->ListLuns()) (void)t->RemoveLun(lun);
  }
  return 0;
}
