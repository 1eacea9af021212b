// SPDX-License-Identifier: Apache-2.0
// Per-target iSCSI parameters: the target's side of the login negotiation an administrator
// sets for one target (tgtadm --mode target --op update --tid T --name KEY --value VALUE;
// targets.conf's MaxRecvDataSegmentLength, HeaderDigest, ... lines). A key that is not set
// keeps the transport's default (kTargetParamCatalog's `dflt`). New values take effect for
// the sessions that log in afterwards; logged-in sessions keep what they negotiated.
//
// Keys are tgt's (tgtadm accepts them in any letter case; they are stored and shown in the
// catalog's spelling). Values are validated by the rules of the negotiation (RFC 7143 13)
// and by what modtgt implements: a value modtgt could offer but not honour (an error
// recovery level above 0, out-of-order data, markers, more than one connection per session)
// is refused with the reason, never accepted and ignored.
//
// Threading: TargetParams is a plain value (copy it); thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modtgt::core {

enum class TargetParamKind {
  kNumber,  // decimal, in [min, max]
  kBool,    // "Yes" / "No"
  kDigest,  // "None", "CRC32C", "CRC32C,None" or "None,CRC32C"
  kFixed,   // only the default is accepted (a key tgt shows that modtgt cannot change)
};

struct TargetParamInfo {
  const char* name;   // tgt's spelling: "MaxRecvDataSegmentLength"
  TargetParamKind kind;
  uint32_t min;       // kNumber
  uint32_t max;       // kNumber
  const char* dflt;   // modtgt's value when not set (what `show` prints)
  const char* why_fixed;  // kFixed, and the values refused for the others: the reason
};

// Every key, in the order tgtadm --mode target --op show --tid T prints them.
const std::vector<TargetParamInfo>& TargetParamCatalog();
// The catalog entry for `key` (any letter case), or nullptr.
const TargetParamInfo* FindTargetParam(std::string_view key);

// The iSNS keys tgt accepts on --mode system --op update (iSNS, iSNSServerIP,
// iSNSServerPort, iSNSAccessControl): modtgt has no iSNS client.
bool IsIsnsKey(std::string_view key);

class TargetParams {
 public:
  // Validates `value` for `key` (any letter case) and sets it. InvalidArgument naming the
  // key and the accepted values for a bad value; NotFound for an unknown key (the message
  // lists the known ones); Unsupported for a value modtgt cannot honour (with the reason).
  // On error nothing changes.
  Status Set(std::string_view key, std::string_view value);
  // Forgets `key`: the default applies again.
  void Reset(std::string_view key);

  // The keys set, in catalog spelling, with canonical values ("Yes", "65536", "CRC32C").
  const std::map<std::string, std::string>& values() const { return values_; }
  bool empty() const { return values_.empty(); }
  // The effective value of every key (set or default), in catalog order.
  std::vector<std::pair<std::string, std::string>> Effective() const;

  // Typed access for the transport; nullopt when not set (use the transport's default).
  std::optional<uint32_t> Number(std::string_view key) const;
  std::optional<bool> Bool(std::string_view key) const;
  std::optional<std::string> Text(std::string_view key) const;

  bool operator==(const TargetParams&) const = default;

 private:
  std::map<std::string, std::string> values_;
};

// ---- The target's state (tgtadm -n state -v ready|offline) ----
enum class TargetState { kReady, kOffline };
const char* TargetStateName(TargetState s);  // "ready", "offline"
// "ready" / "offline" (exactly, as tgt). InvalidArgument otherwise.
Result<TargetState> ParseTargetState(std::string_view s);

}  // namespace modtgt::core
