// SPDX-License-Identifier: Apache-2.0
// CHAP accounts (RFC 7143 12.1.3): a user name and a secret, defined once and bound to
// targets (tid >= 1) or to discovery sessions (tid 0, kDiscoveryTid):
//   - incoming: initiators logging in to that target must authenticate as one of the bound
//     users (CHAP); with none bound, no authentication is asked;
//   - outgoing (at most one per target): the account the target answers with when the
//     initiator asks the target to authenticate itself (mutual CHAP).
// tgtadm's model (--mode account --op new|delete|bind|unbind [--outgoing]).
//
// Secrets are never logged and never shown by a listing (Secret() is for the transport's
// login code and the saved configuration only).
//
// Threading: thread-safe (internal mutex); read at login, changed by the admin.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace modtgt::core {

inline constexpr int kDiscoveryTid = 0;
// RFC 7143 12.1.3: a CHAP secret should be at least 96 bits (12 bytes) when it may be seen
// by an eavesdropper; shorter ones are refused outright. Linux caps at 255.
inline constexpr size_t kMinChapSecret = 12;
inline constexpr size_t kMaxChapSecret = 255;
inline constexpr size_t kMaxChapUser = 255;

class AccountRegistry {
 public:
  struct Binding {
    std::vector<std::string> incoming;  // sorted
    std::string outgoing;               // "" = none
    bool operator==(const Binding&) const = default;
  };

  // kAlreadyExists for a known user; kInvalidArgument for a user name that is empty, too
  // long or not printable ASCII, or a secret outside 12..255 bytes (the message says so
  // and never contains the secret).
  Status Add(const std::string& user, const std::string& secret);
  // kNotFound; kBusy while the user is bound (naming where) unless force, which unbinds it
  // everywhere.
  Status Remove(const std::string& user, bool force);
  // The secret of `user`, or kNotFound.
  Result<std::string> Secret(const std::string& user) const;
  std::vector<std::string> Users() const;  // sorted
  bool Has(const std::string& user) const;

  // Binds `user` to tid (kDiscoveryTid: discovery sessions). kNotFound for an unknown user;
  // kAlreadyExists if already bound that way, or (outgoing) if another outgoing user is.
  Status Bind(int tid, const std::string& user, bool outgoing);
  // kNotFound when not bound that way.
  Status Unbind(int tid, const std::string& user, bool outgoing);
  Binding BindingOf(int tid) const;
  // Every tid with a binding (discovery included), sorted.
  std::vector<int> BoundTids() const;
  // The target is gone: its bindings go too.
  void ForgetTarget(int tid);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> secrets_;  // GUARDED_BY(mu_)
  std::map<int, Binding> bindings_;             // GUARDED_BY(mu_)
};

// Checks a user name and a secret as Add does (no registry needed: the CLI and restore use
// it too).
Status CheckAccount(const std::string& user, const std::string& secret);

}  // namespace modtgt::core
