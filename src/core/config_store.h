// SPDX-License-Identifier: Apache-2.0
// ConfigStore: the state file (default /var/lib/modtgt/config.json, modtgtd --config PATH).
// Reads it at start (a missing file is a first start; a corrupt, truncated or unreadable
// one is an error naming the file and what is wrong, and is never overwritten), and saves
// the running configuration after every successful admin change: atomically (temp file,
// fsync, rename, fsync the folder; common/atomic_file.h), mode 0600, the previous good copy
// kept beside it as PATH.prev (modtgtd --config PATH.prev starts from it).
//
// Threading: thread-safe (Save serialises on an internal mutex).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "common/status.h"
#include "core/saved_config.h"

namespace modtgt::core {

inline constexpr char kDefaultConfigPath[] = "/var/lib/modtgt/config.json";

class ConfigStore {
 public:
  // An empty path: an ephemeral daemon (--no-config): Load finds nothing, Save does nothing.
  explicit ConfigStore(std::string path) : path_(std::move(path)) {}

  bool enabled() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  std::string previous_path() const { return path_ + ".prev"; }

  // kNotFound when the file does not exist; InvalidArgument "<path>: <what is wrong>"
  // (with a hint to the last good copy when there is one) for anything unreadable.
  Result<SavedConfig> Load() const;
  // Removes PATH.tmp-* files a crash between write and rename left behind. Returns how
  // many.
  int RemoveStaleTemporaries() const;
  // Writes c to the file (creating its folder, mode 0700, if missing). On error the file
  // is unchanged and the error is also kept for status().
  Status Save(const SavedConfig& c);

  struct State {
    uint64_t saves = 0;
    int64_t last_save_unix = 0;
    std::string last_error;  // of the last Save, "" when it worked
  };
  State state() const;

 private:
  const std::string path_;
  mutable std::mutex mu_;
  State state_;  // GUARDED_BY(mu_)
};

}  // namespace modtgt::core
