// SPDX-License-Identifier: Apache-2.0
// Shared by the admin fuzz targets (admin_request_fuzz.cc, cli_args_fuzz.cc): a real admin
// context (TargetRegistry per input, one ModuleRegistry per process with bs_null when it was
// built) and the checks every admin reply must pass (docs/admin-protocol.md "Reply").
//
// Threading: single-threaded (libFuzzer calls the target from one thread).
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "admin/protocol.h"
#include "admin/server.h"
#include "common/log.h"
#include "core/module_registry.h"
#include "core/target.h"
#include "core/transport_registry.h"

namespace modtgt::fuzz {

[[noreturn]] inline void AdminFail(const char* what, const nlohmann::json& reply) {
  std::fprintf(stderr, "admin fuzz: invariant broken: %s\nreply: %s\n", what,
               reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  std::abort();
}

// The module folder the fuzzers give the admin code: a private temporary folder holding
// only backing-store/bs_null.so (a symlink into the build), so "system bsload" can load
// nothing else (no module that opens files) whatever the input asks, and a placeholder
// transport/lld_iscsi.so that is not a module: --lld iscsi is known, but no input can
// start a transport (it would listen on the network).
class FuzzModules {
 public:
  static FuzzModules& Get() {
    static FuzzModules* m = new FuzzModules();  // lives for the process
    return *m;
  }
  core::ModuleRegistry* registry() { return &registry_; }
  core::TransportRegistry* transports() { return transports_.get(); }
  const std::string& dir() const { return dir_; }
  bool have_null() const { return have_null_; }
  // Loads bs_null again if an input unloaded it, so every input starts the same way.
  void Restore() {
    if (!have_null_) return;
    for (const auto& m : registry_.List()) {
      if (m.name == "null" && m.state == core::ModuleState::kReady) return;
    }
    (void)registry_.LoadFile(dir_ + "/backing-store/bs_null.so");
  }

 private:
  FuzzModules() {
    char tmpl[] = "/tmp/modtgt-fuzz-modules-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    dir_ = tmpl;
    std::string bs = dir_ + "/backing-store";
    if (mkdir(bs.c_str(), 0700) != 0) std::abort();
    std::string lld = dir_ + "/transport";
    if (mkdir(lld.c_str(), 0700) != 0) std::abort();
    if (FILE* f = std::fopen((lld + "/lld_iscsi.so").c_str(), "w")) {
      std::fputs("not a transport module\n", f);
      std::fclose(f);
    }
    transports_ = std::make_unique<core::TransportRegistry>(core::TransportContext{}, dir_);
#ifdef MODTGT_BUILD_MODULE_DIR
    std::string src = std::string(MODTGT_BUILD_MODULE_DIR) + "/backing-store/bs_null.so";
    if (access(src.c_str(), R_OK) == 0 && symlink(src.c_str(), (bs + "/bs_null.so").c_str()) == 0) {
      have_null_ = registry_.LoadFile(bs + "/bs_null.so").ok();
    }
#endif
    static std::string cleanup_dir = dir_;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(cleanup_dir, ec);
    });
  }
  core::ModuleRegistry registry_;
  std::unique_ptr<core::TransportRegistry> transports_;
  std::string dir_;
  bool have_null_ = false;
};

// Checks one reply against the protocol: {"ok": true, "result": {...}} or
// {"ok": false, "error": {"code", "exit", "message"}} with a code from the closed set.
// An "internal" error means a handler threw or broke an invariant: a bug.
inline void CheckReply(const nlohmann::json& reply) {
  if (!reply.is_object()) AdminFail("reply is not an object", reply);
  auto ok = reply.find("ok");
  if (ok == reply.end() || !ok->is_boolean()) AdminFail("reply without boolean ok", reply);
  if (ok->get<bool>()) {
    auto r = reply.find("result");
    if (r == reply.end() || !r->is_object()) AdminFail("ok reply without result object", reply);
    return;
  }
  auto e = reply.find("error");
  if (e == reply.end() || !e->is_object()) AdminFail("error reply without error object", reply);
  auto code = e->find("code");
  auto exit = e->find("exit");
  auto msg = e->find("message");
  if (code == e->end() || !code->is_string() || exit == e->end() ||
      !exit->is_number_integer() || msg == e->end() || !msg->is_string()) {
    AdminFail("error object fields", reply);
  }
  bool known = false;
  for (const auto& info : admin::kErrorTable) {
    if (code->get<std::string>() == info.name) {
      known = true;
      if (exit->get<int>() != info.exit_code) AdminFail("exit code does not match the code", reply);
    }
  }
  if (!known) AdminFail("error code outside the closed set", reply);
  if (code->get<std::string>() == "internal") AdminFail("internal error (a handler bug)", reply);
  // The daemon serialises with error_handler_t::replace; the reply must serialise.
  (void)reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace modtgt::fuzz
