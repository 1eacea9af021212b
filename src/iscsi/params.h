// SPDX-License-Identifier: Apache-2.0
// iSCSI text keys and operational parameter negotiation (RFC 7143 6, 13).
// Pure value types and functions; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "core/target_params.h"

namespace modtgt::iscsi {

// A "key=value" list in order, as carried in Login/Text data segments (NUL separated).
using KeyValues = std::vector<std::pair<std::string, std::string>>;

// Parses a data segment into key=value pairs. Fails on a pair without '=', an empty key, a
// key > 63 bytes or a value > 8192 bytes (RFC 7143 6.1). A missing trailing NUL is accepted.
Result<KeyValues> ParseKeyValues(const uint8_t* data, size_t len);
// Appends "key=value\0" for each pair.
void AppendKeyValues(const KeyValues& kvs, std::vector<uint8_t>* out);

// RFC 7143 6.1 numerical value: decimal, or hexadecimal after "0x"/"0X". No sign, no
// whitespace, at most 64 bits. False (and *out untouched) otherwise.
bool ParseNumber(std::string_view v, uint64_t* out);

// RFC 7143 6.1 binary-value: "0x"/"0X" and hex digits (an odd count has an implied leading
// zero), or "0b"/"0B" and base64 (RFC 4648 section 4; the '=' padding may be left out).
// False when the text is neither, is empty after the prefix, or decodes to more than
// max_len bytes; *out is then unspecified.
bool DecodeBinaryValue(std::string_view v, size_t max_len, std::vector<uint8_t>* out);
// "0x" and two lowercase hex digits per byte.
std::string EncodeHex(const uint8_t* data, size_t len);

// What a text key is (RFC 7143 6, 12, 13), for answering it in the phase it came in.
enum class KeyClass {
  kUnknown,
  kLoginName,    // InitiatorName, TargetName, SessionType: declared by the initiator
  kInitiatorAlias,
  kTargetOnly,   // TargetAlias, TargetAddress, TargetPortalGroupTag: never sent by initiators
  kSecurity,     // AuthMethod and the authentication method keys (RFC 7143 12)
  kOperational,  // RFC 7143 13 operational keys (LoginOperationalNegotiation stage)
  kFfpOnly,      // SendTargets
};
KeyClass Classify(std::string_view k);

// Values that apply to one connection.
struct ConnectionParams {
  bool header_digest = false;             // CRC32C
  bool data_digest = false;               // CRC32C
  uint32_t max_recv_data_segment = 262144;  // largest data segment we accept (we declare)
  uint32_t max_xmit_data_segment = 8192;    // largest we may send (the initiator declared)
};

// Values that apply to the whole session.
struct SessionParams {
  uint32_t max_connections = 1;
  bool initial_r2t = true;
  bool immediate_data = true;
  uint32_t max_burst_length = 262144;
  uint32_t first_burst_length = 65536;
  uint32_t default_time2wait = 2;
  uint32_t default_time2retain = 20;
  uint32_t max_outstanding_r2t = 1;
  bool data_pdu_in_order = true;
  bool data_sequence_in_order = true;
  uint32_t error_recovery_level = 0;
  std::string target_name;
  std::string initiator_name;
  std::string initiator_alias;
  std::string target_alias;
  uint16_t target_portal_group_tag = 1;
  uint32_t max_queue_cmd = 128;  // the CmdSN window (the target's MaxQueueCmd)
  bool discovery = false;  // SessionType=Discovery
};

// What the target is willing to do: our side of every negotiation. Defaults are chosen not
// to throttle large I/O (256 KiB segments and bursts; tgt's 8 KiB halves write speed).
struct TargetLimits {
  uint32_t max_recv_data_segment = 262144;
  uint32_t max_burst_length = 1048576;
  uint32_t first_burst_length = 262144;
  uint32_t max_outstanding_r2t = 16;
  uint32_t max_connections = 4;       // per session (MC/S)
  uint32_t error_recovery_level = 2;  // the highest we offer (0..2)
  bool allow_header_digest = true;
  bool allow_data_digest = true;
  bool require_header_digest = false;  // CRC32C only: an initiator offering only None fails
  bool require_data_digest = false;
  bool initial_r2t = false;     // what we prefer (OR-function: the initiator can force Yes)
  bool immediate_data = true;   // AND-function
  uint32_t max_xmit_data_segment = 16777215;  // cap on what we send (MaxXmitDataSegmentLength)
  uint32_t default_time2wait = 2;
  uint32_t default_time2retain = 20;
  uint32_t max_queue_cmd = 128;  // CmdSN window of a session (MaxQueueCmd)
};

// The target's own iSCSI parameters (core::Target::iscsi_params, set by the administrator)
// on top of the transport's limits: the offer a login to that target negotiates with.
// Values were validated when set (core/target_params.h); the keys not set keep *lim's.
void ApplyTargetParams(const core::TargetParams& params, TargetLimits* lim);

}  // namespace modtgt::iscsi
