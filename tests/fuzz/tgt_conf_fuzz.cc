// SPDX-License-Identifier: Apache-2.0
// Fuzzes the targets.conf import, every stage of `modtgtadm --import-tgt FILE`: the syntax
// (cli::ParseTgtConfText, with includes, globs and folders served from the input), the
// daemon's strict reader of the tree the CLI sends (core::ConfTreeFromJson), and the
// import request itself (admin --mode system --op import: core::ImportTgtConf, then the
// configuration checked and applied as `system restore` does) into an empty daemon whose
// only backing store is bs_null (when it was built), so nothing named in the input is
// opened.
//
// Input: the main file "targets.conf", then more files, each starting at a line
// "#=file NAME" (NAME a path such as "conf.d/a.conf", without a NUL byte, as on a real
// file system; a '#' line is a comment, so a seed is also a real targets.conf).
// Invariants: nothing crashes; every refusal says why; a tree the CLI produced is one the
// daemon reads; every reply follows the protocol (admin_fuzz_common.h), never "internal";
// a dry run changes nothing; a second import of what was imported changes nothing.
// MODTGT_FUZZ_VERBOSE=1 prints where each input got to (for checking seeds).
#include <fnmatch.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "admin_fuzz_common.h"
#include "cli/tgt_conf.h"
#include "core/accounts.h"
#include "core/config_apply.h"
#include "core/tgt_import.h"

namespace {

using nlohmann::json;

// The input's files, as the parser's ConfSource.
class MemSource : public modtgt::cli::ConfSource {
 public:
  std::map<std::string, std::string> files;

  modtgt::Result<std::string> Read(const std::string& path) override {
    auto it = files.find(path);
    if (it == files.end()) return modtgt::Status::NotFound(path + ": no such file");
    return it->second;
  }
  modtgt::Result<std::vector<std::string>> Expand(const std::string& pattern) override {
    std::vector<std::string> out;
    if (pattern.find_first_of("*?[{") != std::string::npos) {
      for (const auto& [name, text] : files) {
        if (fnmatch(pattern.c_str(), name.c_str(), FNM_PATHNAME) == 0) out.push_back(name);
      }
      return out;
    }
    if (files.count(pattern) != 0) return std::vector<std::string>{pattern};
    // A folder: the files directly in it, in ASCII order (std::map's).
    const std::string dir = pattern.empty() || pattern.back() == '/' ? pattern : pattern + "/";
    for (const auto& [name, text] : files) {
      if (name.size() > dir.size() && name.compare(0, dir.size(), dir) == 0 &&
          name.find('/', dir.size()) == std::string::npos) {
        out.push_back(name);
      }
    }
    return out;
  }
};

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "tgt_conf fuzz: invariant broken: %s\n%s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modtgt;  // NOLINT: fuzz harness
  SetLogLevel(LogLevel::kError);
  static const bool verbose = std::getenv("MODTGT_FUZZ_VERBOSE") != nullptr;
  if (size > (64u << 10)) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  MemSource src;
  std::string name = "targets.conf";
  std::string text;
  while (!in.empty()) {
    size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl == std::string_view::npos ? in.size() : nl + 1);
    in.remove_prefix(line.size());
    if (line.substr(0, 7) == "#=file ") {
      src.files[name] = std::move(text);
      text.clear();
      name = std::string(line.substr(7));
      while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
      // No file system holds a name with a NUL byte (the CLI reads real files by C path).
      if (name.find('\0') != std::string::npos) return 0;
      continue;
    }
    text.append(line);
  }
  src.files[name] = std::move(text);

  Result<json> tree = cli::ParseTgtConfText(src.files["targets.conf"], "targets.conf", &src);
  if (!tree.ok()) {
    if (tree.status().message().empty()) Fail("a syntax refusal without a reason", "");
    if (verbose) std::fprintf(stderr, "syntax: %s\n", tree.status().message().c_str());
    return 0;
  }
  Result<std::vector<core::ConfNode>> nodes = core::ConfTreeFromJson(*tree);
  if (!nodes.ok()) Fail("the daemon refuses the CLI's tree", nodes.status().message());

  fuzz::FuzzModules& modules = fuzz::FuzzModules::Get();
  modules.Restore();
  {
    core::TargetRegistry targets;
    core::AccountRegistry accounts;
    admin::AdminContext ctx;
    ctx.targets = &targets;
    ctx.modules = modules.registry();
    ctx.transports = modules.transports();
    ctx.accounts = &accounts;
    ctx.module_dir = modules.dir();
    ctx.version = "fuzz";
    ctx.threads = 1;
    auto import = [&](bool dry_run) {
      json reply = admin::HandleRequest(
          &ctx,
          json{{"mode", "system"}, {"op", "import"}, {"tgt_conf", *tree}, {"dry_run", dry_run}});
      fuzz::CheckReply(reply);
      return reply;
    };
    auto state = [&] { return core::SerializeSavedConfig(core::Snapshot(ctx.objects())); };
    const std::string empty = state();
    json dry = import(/*dry_run=*/true);
    if (state() != empty) Fail("a dry run changed the daemon", dry.dump());
    json done = import(/*dry_run=*/false);
    if (verbose) {
      std::fprintf(
          stderr, "import: %s\n",
          done.dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 300).c_str());
    }
    if (done["ok"].get<bool>()) {
      const std::string after = state();
      json again = import(/*dry_run=*/false);
      if (!again["ok"].get<bool>()) Fail("the second import was refused", again.dump());
      if (!again["result"]["actions"].empty())
        Fail("the second import changed something", again.dump());
      if (state() != after) Fail("the second import changed the state", again.dump());
    } else if (state() != empty) {
      Fail("a refused import changed the daemon", done.dump());
    }
    for (const auto& t : targets.List()) {
      (void)targets.Remove(t->tid(), /*force=*/true);
      for (uint64_t lun : t->ListLuns()) (void)t->RemoveLun(lun);
    }
  }  // LUs (and their devices) close here, before the next input
  return 0;
}
