// SPDX-License-Identifier: Apache-2.0
// Fuzzes modtgtadm's command line parser (cli::ParseArgs) and then hands what it builds to
// the daemon's request handler, as modtgtadm + modtgtd would.
//
// Input: one option byte (bit 0: $MODTGT_SOCKET is set), then argv[1..] separated by NUL
// bytes (at most 64 arguments).
// Checks: a parse either fails with kInvalidArgument and a message, or gives a request
// object with string "mode" and "op" (unless --help/--version) and a socket path; the
// request survives the trip modtgtadm makes (serialised to one JSON line, parsed back by the
// daemon) and the daemon's reply passes the protocol checks (admin_fuzz_common.h).
//
// Known bug (reported, not fixed here): modtgtadm serialises the request with a strict
// dump() (src/cli/modtgtadm.cc), which throws on an argument that is not valid UTF-8 and
// aborts the CLI. Set MODTGT_FUZZ_STRICT_UTF8=1 to make this harness crash on it too;
// by default it serialises like the daemon does (invalid bytes replaced) and goes on.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "admin_fuzz_common.h"
#include "cli/args.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modtgt;  // NOLINT: fuzz harness
  if (size < 1) return 0;
  SetLogLevel(LogLevel::kError);
  static const bool strict_utf8 = std::getenv("MODTGT_FUZZ_STRICT_UTF8") != nullptr;
  std::vector<std::string> args;
  std::string cur;
  for (size_t i = 1; i < size && args.size() < 64; ++i) {
    if (data[i] == 0) {
      args.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(data[i]));
    }
  }
  if (!cur.empty() && args.size() < 64) args.push_back(cur);

  Result<cli::CliOptions> r = cli::ParseArgs(args, (data[0] & 1) ? "/tmp/fuzz.sock" : nullptr);
  if (!r.ok()) {
    if (r.status().code() != Code::kInvalidArgument && r.status().code() != Code::kUnsupported) {
      std::abort();
    }
    if (r.status().message().empty()) std::abort();
    return 0;
  }
  const cli::CliOptions& o = *r;
  if (!o.request.is_object()) std::abort();
  if (o.help || o.version) return 0;
  if (o.socket_path.empty()) std::abort();
  auto mode = o.request.find("mode");
  auto op = o.request.find("op");
  if (mode == o.request.end() || !mode->is_string() || op == o.request.end() ||
      !op->is_string()) {
    std::abort();
  }

  std::string line;
  if (strict_utf8) {
    line = o.request.dump();  // what modtgtadm does: throws on invalid UTF-8
  } else {
    line = o.request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  nlohmann::json again = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (again.is_discarded() || !again.is_object()) std::abort();

  fuzz::FuzzModules& modules = fuzz::FuzzModules::Get();
  modules.Restore();
  core::TargetRegistry targets;
  admin::AdminContext ctx;
  ctx.targets = &targets;
  ctx.modules = modules.registry();
  ctx.transports = modules.transports();
  ctx.module_dir = modules.dir();
  ctx.version = "fuzz";
  // A target (and, with bs_null, a LU) to act on, so update/delete/show/bind get past the
  // lookups.
  if (!admin::HandleRequest(&ctx, {{"mode", "target"}, {"op", "new"}, {"tid", 1},
                                   {"targetname", "iqn.2024-01.org.modtgt:fuzz"}})["ok"]
           .get<bool>()) {
    std::abort();
  }
  if (modules.have_null()) {
    (void)admin::HandleRequest(&ctx, {{"mode", "logicalunit"}, {"op", "new"}, {"tid", 1},
                                      {"lun", 1}, {"bstype", "null"}, {"backing_store", "1M"}});
  }
  fuzz::CheckReply(admin::HandleRequest(&ctx, again));
  return 0;
}
