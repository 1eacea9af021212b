// SPDX-License-Identifier: Apache-2.0
#include "core/config_store.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "common/atomic_file.h"
#include "common/log.h"

namespace modtgt::core {

Result<SavedConfig> ConfigStore::Load() const {
  if (!enabled()) return Status::NotFound("no configuration file (--no-config)");
  Result<std::string> text = ReadWholeFile(path_, kMaxConfigBytes);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return text.status();
    return Status::InvalidArgument("cannot read the configuration file " + path_ + ": " +
                                   text.status().message());
  }
  Result<SavedConfig> c = ParseSavedConfig(*text);
  if (!c.ok()) {
    std::string hint;
    if (access(previous_path().c_str(), R_OK) == 0) {
      hint = " (the previous good copy is " + previous_path() + ": start with --config " +
             previous_path() + ", or copy it over " + path_ + ")";
    }
    std::string what = text->empty() ? "the file is empty" : c.status().message();
    return Status::InvalidArgument("configuration file " + path_ + " is not valid: " + what +
                                   "; it was left as it is" + hint);
  }
  return c;
}

int ConfigStore::RemoveStaleTemporaries() const {
  if (!enabled()) return 0;
  const std::string dir = ParentFolder(path_);
  const std::string base = path_.substr(path_.rfind('/') == std::string::npos ? 0 : path_.rfind('/') + 1);
  int removed = 0;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind(base + ".tmp-", 0) == 0 || n.rfind(base + ".prev.tmp-", 0) == 0) {
      if (unlink((dir + "/" + n).c_str()) == 0) {
        LOG_WARN("removed %s/%s, left by an interrupted save", dir.c_str(), n.c_str());
        removed++;
      }
    }
  }
  closedir(d);
  return removed;
}

Status ConfigStore::Save(const SavedConfig& c) {
  if (!enabled()) return Status::OK();
  std::lock_guard<std::mutex> l(mu_);
  Status s = MakeFolders(ParentFolder(path_));
  if (s.ok()) {
    AtomicWriteOptions o;
    o.mode = 0600;
    o.keep_previous_as = previous_path();
    s = WriteFileAtomic(path_, SerializeSavedConfig(c), o);
  }
  if (!s.ok()) {
    state_.last_error = s.message();
    LOG_ERROR("the configuration was NOT saved to %s: %s", path_.c_str(), s.message().c_str());
    return s;
  }
  state_.saves++;
  state_.last_save_unix = static_cast<int64_t>(time(nullptr));
  state_.last_error.clear();
  return Status::OK();
}

ConfigStore::State ConfigStore::state() const {
  std::lock_guard<std::mutex> l(mu_);
  return state_;
}

}  // namespace modtgt::core
