// SPDX-License-Identifier: Apache-2.0
// The copy manager (SPC-4 6.4, 6.18, 7.8.17): EXTENDED COPY (LID1) with block-to-block
// segment descriptors (02h) between copy targets named by identification descriptors
// (E4h) carrying an NAA designator; RECEIVE COPY RESULTS (COPY STATUS, OPERATING
// PARAMETERS); the Third-party Copy VPD page. Registered in the SBC table (block devices).
//
// Security (the lesson of CVE-2020-28374 and CVE-2021-3139): a copy reaches only LUs the
// I_T nexus issuing it may reach itself. The SCSI layer sees only the nexus's own target;
// anything beyond goes through the CopyTargetResolver the target offers
// (TargetView::copy_target_resolver), which the core implements with the targets' ACLs.
// A copy target that cannot be resolved, for any reason, is COPY ABORTED / COPY TARGET
// DEVICE NOT REACHABLE: an initiator cannot tell an LU it may not reach from one that does
// not exist. The copy also obeys, per copy target, the reservations, write protection and
// medium state the nexus would meet with its own READ and WRITE.
//
// A copy runs in chunks of at most kCopyChunkBytes through a BackgroundIo (one bounded
// buffer per copy, at most kMaxConcurrentCopies copies in the daemon), on the loop of the
// EXTENDED COPY command, which completes when the copy ends; ABORT TASK (or a lost nexus)
// stops it at the next chunk.
//
// Threading: the handlers run on the command's owning loop; the resolver is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "scsi/command.h"

namespace modtgt::scsi {

class LogicalUnit;
class TargetView;

// Finds EXTENDED COPY's copy targets. Implemented by the core (core::TargetRegistry), which
// knows every target, its LUs and its ACL; src/scsi cannot see them.
class CopyTargetResolver {
 public:
  virtual ~CopyTargetResolver() = default;
  // The LU whose NAA designator (LuNaaDesignator, scsi/spc.h) is the `len` bytes at `naa`,
  // if the I_T nexus `nexus` may reach it itself: an LU of nexus.target, or of another
  // target whose ACL admits nexus's initiator (its name and initiator_address). nullptr
  // otherwise: unknown and forbidden are not told apart. Thread-safe.
  virtual std::shared_ptr<LogicalUnit> ResolveCopyTarget(const Nexus& nexus, const uint8_t* naa,
                                                         size_t len) const = 0;
};

// The LU of `target` whose NAA designator is the `len` bytes at `naa`, or nullptr. What
// resolvers use to search one target.
std::shared_ptr<LogicalUnit> FindLuByNaa(const TargetView& target, const uint8_t* naa, size_t len);

// Copy manager limits, as RECEIVE COPY RESULTS (OPERATING PARAMETERS) and the Third-party
// Copy VPD page report them and EXTENDED COPY enforces them.
inline constexpr uint16_t kMaxCopyTargetDescriptors = 8;
inline constexpr uint16_t kMaxCopySegmentDescriptors = 64;
inline constexpr uint32_t kMaxCopyDescriptorListLength = 2048;  // target + segment lists
inline constexpr uint32_t kMaxCopySegmentBytes = 256u << 20;
inline constexpr uint16_t kMaxConcurrentCopies = 32;  // in the daemon, held buffers bound
inline constexpr uint32_t kCopyChunkBytes = 1u << 20;
inline constexpr size_t kMaxHeldCopyStatuses = 16;    // per I_T nexus and copy manager LU

// EXTENDED COPY (LID1) and RECEIVE COPY RESULTS (LID1: COPY STATUS, OPERATING
// PARAMETERS). Table handlers; the service action is decoded inside.
void ExtendedCopy(Command* cmd);
void ReceiveCopyResults(Command* cmd);

// Appends the body of the Third-party Copy VPD page (SPC-4 7.8.17) of lu after its header.
void AppendThirdPartyCopyVpd(const LogicalUnit& lu, std::vector<uint8_t>& v);

// Copies in progress in the daemon (for tests).
int ActiveCopiesForTest();

}  // namespace modtgt::scsi
