// SPDX-License-Identifier: Apache-2.0
// Fuzzes the admin protocol's request handling (admin::HandleRequest, every mode/op and the
// LU parameter parsing behind "logicalunit new/update") the way AdminServer runs it: each
// input line (split at '\n', a trailing '\r' dropped, at most 64 lines) is parsed as JSON
// and, when it parses, handled against a real TargetRegistry (fresh per input, so the
// target/LUN count is bounded) and a real ModuleRegistry holding bs_null when it was built.
// Every reply is checked against the protocol (see admin_fuzz_common.h).
// MODTGT_FUZZ_VERBOSE=1 prints the replies (for checking seeds).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "admin_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modtgt;  // NOLINT: fuzz harness
  SetLogLevel(LogLevel::kError);
  static const bool verbose = std::getenv("MODTGT_FUZZ_VERBOSE") != nullptr;
  fuzz::FuzzModules& modules = fuzz::FuzzModules::Get();
  modules.Restore();
  {
    core::TargetRegistry targets;
    admin::AdminContext ctx;
    ctx.targets = &targets;
    ctx.modules = modules.registry();
    ctx.transports = modules.transports();
    ctx.module_dir = modules.dir();
    ctx.version = "fuzz";
    ctx.threads = 1;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    for (int lines = 0; lines < 64 && !in.empty(); ++lines) {
      size_t nl = in.find('\n');
      std::string line(in.substr(0, nl));
      in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      nlohmann::json request = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (request.is_discarded()) continue;  // the server answers invalid-request itself
      nlohmann::json reply = admin::HandleRequest(&ctx, request);
      fuzz::CheckReply(reply);
      if (verbose) {
        std::fprintf(stderr, "%s\n",
                     reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                         .substr(0, 200)
                         .c_str());
      }
    }
  }  // LUs (and their devices) close here, before the next input
  return 0;
}
