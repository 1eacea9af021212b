// SPDX-License-Identifier: Apache-2.0
#include "core/accounts.h"

#include <algorithm>

namespace modtgt::core {

namespace {

bool Printable(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
}

std::string Where(int tid) {
  return tid == kDiscoveryTid ? std::string("discovery") : "target " + std::to_string(tid);
}

}  // namespace

Status CheckAccount(const std::string& user, const std::string& secret) {
  if (user.empty() || user.size() > kMaxChapUser || !Printable(user)) {
    return Status::InvalidArgument("invalid CHAP user name: 1 to " + std::to_string(kMaxChapUser) +
                                   " printable ASCII characters");
  }
  if (secret.size() < kMinChapSecret) {
    return Status::InvalidArgument("the CHAP secret of user " + user + " is " +
                                   std::to_string(secret.size()) + " bytes; it must be at least " +
                                   std::to_string(kMinChapSecret) +
                                   " (RFC 7143 12.1.3: 96 bits)");
  }
  if (secret.size() > kMaxChapSecret || !Printable(secret)) {
    return Status::InvalidArgument("the CHAP secret of user " + user + " must be at most " +
                                   std::to_string(kMaxChapSecret) +
                                   " printable ASCII characters");
  }
  return Status::OK();
}

Status AccountRegistry::Add(const std::string& user, const std::string& secret) {
  MODTGT_RETURN_IF_ERROR(CheckAccount(user, secret));
  std::lock_guard<std::mutex> l(mu_);
  if (!secrets_.emplace(user, secret).second) {
    return Status::AlreadyExists("account " + user + " already exists");
  }
  return Status::OK();
}

Status AccountRegistry::Remove(const std::string& user, bool force) {
  std::lock_guard<std::mutex> l(mu_);
  if (!secrets_.count(user)) return Status::NotFound("no account " + user);
  std::vector<std::string> where;
  for (const auto& [tid, b] : bindings_) {
    if (std::find(b.incoming.begin(), b.incoming.end(), user) != b.incoming.end() ||
        b.outgoing == user) {
      where.push_back(Where(tid));
    }
  }
  if (!where.empty() && !force) {
    std::string list;
    for (const auto& w : where) list += (list.empty() ? "" : ", ") + w;
    return Status::Busy("account " + user + " is bound to " + list + " (unbind it, or --force)");
  }
  for (auto& [tid, b] : bindings_) {
    b.incoming.erase(std::remove(b.incoming.begin(), b.incoming.end(), user), b.incoming.end());
    if (b.outgoing == user) b.outgoing.clear();
  }
  std::erase_if(bindings_, [](const auto& kv) {
    return kv.second.incoming.empty() && kv.second.outgoing.empty();
  });
  secrets_.erase(user);
  return Status::OK();
}

Result<std::string> AccountRegistry::Secret(const std::string& user) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = secrets_.find(user);
  if (it == secrets_.end()) return Status::NotFound("no account " + user);
  return it->second;
}

std::vector<std::string> AccountRegistry::Users() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> out;
  for (const auto& [u, s] : secrets_) out.push_back(u);
  return out;
}

bool AccountRegistry::Has(const std::string& user) const {
  std::lock_guard<std::mutex> l(mu_);
  return secrets_.count(user) > 0;
}

Status AccountRegistry::Bind(int tid, const std::string& user, bool outgoing) {
  std::lock_guard<std::mutex> l(mu_);
  if (!secrets_.count(user)) return Status::NotFound("no account " + user);
  Binding& b = bindings_[tid];
  if (outgoing) {
    if (b.outgoing == user) {
      return Status::AlreadyExists("account " + user + " is already the outgoing account of " + Where(tid));
    }
    if (!b.outgoing.empty()) {
      return Status::AlreadyExists(Where(tid) + " already has the outgoing account " + b.outgoing +
                                   " (unbind it first)");
    }
    b.outgoing = user;
    return Status::OK();
  }
  if (std::find(b.incoming.begin(), b.incoming.end(), user) != b.incoming.end()) {
    return Status::AlreadyExists("account " + user + " is already bound to " + Where(tid));
  }
  b.incoming.push_back(user);
  std::sort(b.incoming.begin(), b.incoming.end());
  return Status::OK();
}

Status AccountRegistry::Unbind(int tid, const std::string& user, bool outgoing) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = bindings_.find(tid);
  bool found = false;
  if (it != bindings_.end()) {
    Binding& b = it->second;
    if (outgoing && b.outgoing == user) {
      b.outgoing.clear();
      found = true;
    } else if (!outgoing) {
      auto u = std::find(b.incoming.begin(), b.incoming.end(), user);
      if (u != b.incoming.end()) {
        b.incoming.erase(u);
        found = true;
      }
    }
    if (b.incoming.empty() && b.outgoing.empty()) bindings_.erase(it);
  }
  if (!found) {
    return Status::NotFound("account " + user + " is not bound to " + Where(tid) +
                            (outgoing ? " as its outgoing account" : ""));
  }
  return Status::OK();
}

AccountRegistry::Binding AccountRegistry::BindingOf(int tid) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = bindings_.find(tid);
  return it == bindings_.end() ? Binding{} : it->second;
}

std::vector<int> AccountRegistry::BoundTids() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<int> out;
  for (const auto& [tid, b] : bindings_) out.push_back(tid);
  return out;
}

void AccountRegistry::ForgetTarget(int tid) {
  std::lock_guard<std::mutex> l(mu_);
  bindings_.erase(tid);
}

}  // namespace modtgt::core
