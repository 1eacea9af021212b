// SPDX-License-Identifier: Apache-2.0
// The copy manager: EXTENDED COPY (LID1) (SPC-4 6.4), RECEIVE COPY RESULTS (SPC-4 6.18)
// and the Third-party Copy VPD page (SPC-4 7.8.17). See scsi/xcopy.h.
#include "scsi/xcopy.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>

#include "common/byteorder.h"
#include "modtgt/module.h"
#include "scsi/background_io.h"
#include "scsi/dispatch.h"
#include "scsi/handler_util.h"
#include "scsi/logical_unit.h"
#include "scsi/mmc.h"
#include "scsi/sbc.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "scsi/spec.h"

namespace modtgt::scsi {
namespace {

std::atomic<int> g_active_copies{0};
std::atomic<uint64_t> g_copy_sequence{0};

constexpr size_t kTargetDescriptorBytes = sizeof(IdentificationTargetDescriptor);
constexpr size_t kBlockToBlockBytes = sizeof(BlockToBlockSegmentDescriptor);
constexpr size_t kNaaLength = 16;

// COPY ABORTED with `code` (SPC-4 6.4.4: errors found while processing the segments, or
// reported by a copy target), optionally with the INFORMATION field; completes cmd.
void CopyAborted(Command* cmd, Asc code, bool has_info = false, uint64_t info = 0) {
  if (has_info) {
    SetCheckConditionInfo(cmd, SenseKey::kCopyAborted, code, info);
  } else {
    SetCheckCondition(cmd, SenseKey::kCopyAborted, code);
  }
  Complete(cmd);
}

// The additional sense code a copy target's failed I/O gives the COPY ABORTED sense.
Asc AscOfIoStatus(int status) {
  switch (status) {
    case MODTGT_STS_READ_ERROR: return asc::kUnrecoveredReadError;
    case MODTGT_STS_WRITE_ERROR: return asc::kWriteError;
    case MODTGT_STS_LBA_OUT_OF_RANGE: return asc::kLbaOutOfRange;
    case MODTGT_STS_SPACE_EXHAUSTED: return asc::kSpaceAllocationFailedWriteProtect;
    default: return asc::kThirdPartyDeviceFailure;  // BUSY, TASK SET FULL, ...
  }
}

// ---- Held copy status (NexusLuState::copy_lists of the copy manager LU) ----

// Registers the list identifier of a new copy of `nexus`. False if a copy with it is still
// running (OPERATION IN PROGRESS). Drops the oldest held statuses beyond the limit.
bool RegisterCopyList(LogicalUnit* lu, const Nexus& nexus, uint8_t list_id, bool hold) {
  std::lock_guard<std::mutex> l(lu->mutex());
  auto& lists = lu->NexusStateLocked(nexus).copy_lists;
  auto it = lists.find(list_id);
  if (it != lists.end() && it->second.active) return false;
  CopyListState st;
  st.hold = hold;
  st.sequence = g_copy_sequence.fetch_add(1);
  lists[list_id] = st;
  while (lists.size() > kMaxHeldCopyStatuses) {
    auto oldest = lists.end();
    for (auto i = lists.begin(); i != lists.end(); ++i) {
      if (!i->second.active && (oldest == lists.end() || i->second.sequence < oldest->second.sequence)) {
        oldest = i;
      }
    }
    if (oldest == lists.end()) break;  // all running: bounded by kMaxConcurrentCopies
    lists.erase(oldest);
  }
  return true;
}

// Updates (or, when the copy ended and is not held, drops) a registered copy list.
void UpdateCopyList(LogicalUnit* lu, uint64_t nexus_id, uint8_t list_id, uint16_t segments,
                    uint64_t bytes, bool ended, bool failed) {
  std::lock_guard<std::mutex> l(lu->mutex());
  auto& states = lu->nexus_states_locked();
  auto ns = states.find(nexus_id);
  if (ns == states.end()) return;  // the nexus is gone: nothing to hold
  auto it = ns->second.copy_lists.find(list_id);
  if (it == ns->second.copy_lists.end()) return;
  if (ended && !it->second.hold) {
    ns->second.copy_lists.erase(it);
    return;
  }
  it->second.segments_processed = segments;
  it->second.bytes_copied = bytes;
  it->second.active = !ended;
  it->second.failed = failed;
}

// ---- The copy ----

struct CopySegment {
  std::shared_ptr<LogicalUnit> src;
  std::shared_ptr<LogicalUnit> dst;
  uint64_t src_lba = 0;
  uint64_t dst_lba = 0;
  uint64_t blocks = 0;
  bool backward = false;  // same LU, destination overlapping above the source
};

class CopyOperation : public BackgroundIo {
 public:
  CopyOperation(Command* cmd, std::vector<CopySegment> segments, bool tracked, uint8_t list_id)
      : BackgroundIo(cmd->owner->loop()),
        cmd_(cmd),
        manager_(cmd->lu),
        nexus_id_(cmd->nexus ? cmd->nexus->id : 0),
        segments_(std::move(segments)),
        tracked_(tracked),
        list_id_(list_id) {
    uint32_t bs = 512;
    if (!segments_.empty()) bs = segments_[0].src->block_size();
    buffer().Resize(std::max<uint32_t>(kCopyChunkBytes / bs, 1) * bs);
  }

 protected:
  bool Next() override {
    if (issued_) {
      if (last_status() != MODTGT_STS_OK) return Finish(false, AscOfIoStatus(last_status()));
      if (reading_) {  // the chunk is in the buffer: write it
        const CopySegment& s = segments_[index_];
        reading_ = false;
        SetIo(s.dst->backend(), IoOp::kWrite, (s.dst_lba + chunk_start_) * s.dst->block_size(),
              chunk_blocks_ * s.dst->block_size());
        return true;
      }
      done_ += chunk_blocks_;
      bytes_ += chunk_blocks_ * segments_[index_].src->block_size();
      if (done_ == segments_[index_].blocks) {
        ++index_;
        done_ = 0;
      }
      if (tracked_) UpdateCopyList(manager_.get(), nexus_id_, list_id_, index_, bytes_, false, false);
    }
    issued_ = true;
    if (cmd_->aborted.load(std::memory_order_relaxed)) {  // ABORT TASK, nexus loss
      return Finish(false, asc::kNone, /*aborted=*/true);
    }
    while (index_ < segments_.size() && segments_[index_].blocks == 0) ++index_;
    if (index_ == segments_.size()) return Finish(true, asc::kNone);
    const CopySegment& s = segments_[index_];
    // A copy target may have shrunk since the parameters were checked.
    if (s.src_lba + s.blocks > s.src->num_blocks() || s.dst_lba + s.blocks > s.dst->num_blocks()) {
      return Finish(false, asc::kLbaOutOfRange);
    }
    const uint32_t bs = s.src->block_size();
    chunk_blocks_ = std::min<uint64_t>(buffer().size() / bs, s.blocks - done_);
    chunk_start_ = s.backward ? s.blocks - done_ - chunk_blocks_ : done_;
    reading_ = true;
    SetIo(s.src->backend(), IoOp::kRead, (s.src_lba + chunk_start_) * bs, chunk_blocks_ * bs);
    return true;
  }

 private:
  // Ends the copy: the held status, the command, the daemon's count. Returns false.
  bool Finish(bool ok, Asc code, bool aborted = false) {
    // The status and the count first: whoever sees the command complete sees the copy over.
    if (tracked_) UpdateCopyList(manager_.get(), nexus_id_, list_id_, index_, bytes_, true, !ok);
    g_active_copies.fetch_sub(1);
    Command* cmd = cmd_;
    delete this;
    if (aborted) {
      cmd->status = Status::kTaskAborted;
      Complete(cmd);
    } else if (!ok) {
      CopyAborted(cmd, code);
    } else {
      Complete(cmd);
    }
    return false;
  }

  Command* const cmd_;
  const std::shared_ptr<LogicalUnit> manager_;  // the LU EXTENDED COPY was sent to
  const uint64_t nexus_id_;
  const std::vector<CopySegment> segments_;  // their LUs stay alive until the copy ends
  const bool tracked_;
  const uint8_t list_id_;
  size_t index_ = 0;          // the segment being copied
  uint64_t done_ = 0;         // its blocks copied
  uint64_t chunk_start_ = 0;  // the chunk in flight, blocks from the segment's start
  uint64_t chunk_blocks_ = 0;
  uint64_t bytes_ = 0;
  bool reading_ = false;
  bool issued_ = false;
};

// ---- Parameter list (SPC-4 6.4.3) ----

// Checks what the nexus would meet accessing lu itself with a READ (16) or WRITE (16):
// reservations, medium, write protection, sanitize. False with cmd completed.
bool CheckCopyTargetAccess(Command* cmd, LogicalUnit* lu, bool write) {
  const OpInfo* op = lu->type()->Find(write ? kWrite16 : kRead16, 0);
  if (op == nullptr) {
    CopyAborted(cmd, asc::kIncorrectCopyTargetDeviceType);
    return false;
  }
  if (cmd->nexus && lu->reservation_active.load(std::memory_order_acquire) &&
      ReservationConflict(lu, *cmd->nexus, *op, op->usage.data(), op->cdb_length)) {
    CopyAborted(cmd, asc::kThirdPartyDeviceFailure);  // the copy target's RESERVATION CONFLICT
    return false;
  }
  if (lu->sanitizing.load() || lu->sanitize_failed.load()) {
    CopyAborted(cmd, lu->sanitizing.load() ? asc::kLunNotReadySanitizeInProgress
                                           : asc::kSanitizeCommandFailed);
    return false;
  }
  if (MediumRemovable(*lu) && !lu->medium_present.load()) {
    CopyAborted(cmd, NoMediumAsc(*lu));
    return false;
  }
  if (write && (lu->readonly() || lu->swp.load())) {
    CopyAborted(cmd, asc::kWriteProtected);
    return false;
  }
  return true;
}

// Resolves target descriptor `index` (at p) to an LU the nexus may reach. False with cmd
// completed.
bool ResolveTarget(Command* cmd, const uint8_t* p, std::shared_ptr<LogicalUnit>* out) {
  const uint8_t flags = p[offsetof(IdentificationTargetDescriptor, flags)];
  const uint8_t type = p[offsetof(IdentificationTargetDescriptor, designator_type)];
  const uint8_t len = p[offsetof(IdentificationTargetDescriptor, designator_length)];
  // Only an NAA designator of a logical unit identifies one of our LUs.
  const bool naa = (type & 0x0f) == kDesignatorTypeNaa && ((type >> 4) & 0x3) == 0 &&
                   len == kNaaLength;
  if (!naa || cmd->nexus == nullptr || !cmd->nexus->target) {
    CopyAborted(cmd, asc::kCopyTargetDeviceNotReachable);
    return false;
  }
  const uint8_t* id = p + offsetof(IdentificationTargetDescriptor, designator);
  const CopyTargetResolver* resolver = cmd->nexus->target->copy_target_resolver();
  std::shared_ptr<LogicalUnit> lu = resolver ? resolver->ResolveCopyTarget(*cmd->nexus, id, len)
                                             : FindLuByNaa(*cmd->nexus->target, id, len);
  if (lu == nullptr) {
    CopyAborted(cmd, asc::kCopyTargetDeviceNotReachable);
    return false;
  }
  // A block device of the block length the descriptor says (SPC-4 6.4.5.1.3).
  const uint32_t block_length = GetBe24(p + offsetof(IdentificationTargetDescriptor, disk_block_length));
  if ((flags & 0x1f) != kPeripheralDirectAccess || !IsSbc(*lu) || block_length != lu->block_size()) {
    CopyAborted(cmd, asc::kIncorrectCopyTargetDeviceType);
    return false;
  }
  *out = std::move(lu);
  return true;
}

}  // namespace

std::shared_ptr<LogicalUnit> FindLuByNaa(const TargetView& target, const uint8_t* naa, size_t len) {
  if (len != kNaaLength) return nullptr;
  for (uint64_t lun : target.ListLuns()) {
    std::shared_ptr<LogicalUnit> lu = target.FindLun(lun);
    if (lu == nullptr) continue;
    const std::array<uint8_t, 16> id = LuNaaDesignator(*lu);
    if (std::memcmp(id.data(), naa, kNaaLength) == 0) return lu;
  }
  return nullptr;
}

int ActiveCopiesForTest() { return g_active_copies.load(); }

// ---- THIRD-PARTY COPY OUT: EXTENDED COPY (LID1), SPC-4 6.4 ----
void ExtendedCopy(Command* cmd) {
  const uint32_t plen = GetBe32(cmd->cdb + offsetof(ExtendedCopyCdb, parameter_list_length));
  cmd->data_out_needed = plen;
  if (plen == 0) return Complete(cmd);  // SPC-4 6.4.1: not an error, nothing to do
  constexpr size_t kHeader = sizeof(ExtendedCopyParameterListHeader);
  const uint64_t have = std::min<uint64_t>({plen, cmd->expected_length, cmd->data.size()});
  if (plen < kHeader || have < plen) {
    return Fail(cmd, SenseKey::kIllegalRequest, asc::kParameterListLengthError);
  }
  const uint8_t* p = cmd->data.data();
  const uint8_t list_id = p[offsetof(ExtendedCopyParameterListHeader, list_identifier)];
  const uint8_t usage = (p[offsetof(ExtendedCopyParameterListHeader, flags)] >> 3) & 0x3;
  const uint32_t tdl = GetBe16(p + offsetof(ExtendedCopyParameterListHeader, target_descriptor_list_length));
  const uint32_t sdl = GetBe32(p + offsetof(ExtendedCopyParameterListHeader, segment_descriptor_list_length));
  const uint32_t inline_len = GetBe32(p + offsetof(ExtendedCopyParameterListHeader, inline_data_length));
  // The lists must lie within the parameter list, and within what we take.
  if (uint64_t{kHeader} + tdl + sdl + inline_len > plen ||
      uint64_t{tdl} + sdl > kMaxCopyDescriptorListLength) {
    return Fail(cmd, SenseKey::kIllegalRequest, asc::kParameterListLengthError);
  }
  if (inline_len != 0) {  // MAXIMUM INLINE DATA LENGTH 0
    return FailField(cmd, false, offsetof(ExtendedCopyParameterListHeader, inline_data_length));
  }
  if (usage == 1 || (usage == kListIdUsageNone && list_id != 0)) {
    return FailField(cmd, false, usage == 1 ? offsetof(ExtendedCopyParameterListHeader, flags)
                                            : offsetof(ExtendedCopyParameterListHeader, list_identifier));
  }
  if (tdl % kTargetDescriptorBytes != 0) {
    return FailField(cmd, false, offsetof(ExtendedCopyParameterListHeader, target_descriptor_list_length));
  }
  const size_t ntargets = tdl / kTargetDescriptorBytes;
  if (ntargets > kMaxCopyTargetDescriptors) {
    return Fail(cmd, SenseKey::kIllegalRequest, asc::kTooManyTargetDescriptors);
  }
  const uint8_t* targets = p + kHeader;
  for (size_t i = 0; i < ntargets; ++i) {
    // Byte 1's LU ID TYPE and NUL are obsolete in SPC-4 (6.4.5.1): ignored, as libiscsi's
    // ExtendedCopy.ValidTgtDescr expects of an SPC-4 device (VERSION 06h).
    const uint8_t* t = targets + i * kTargetDescriptorBytes;
    const uint16_t at = static_cast<uint16_t>(kHeader + i * kTargetDescriptorBytes);
    if (t[0] != kTargetDescriptorIdentification) {
      return Fail(cmd, SenseKey::kIllegalRequest, asc::kUnsupportedTargetDescriptorTypeCode);
    }
    if (t[offsetof(IdentificationTargetDescriptor, designator_length)] >
        sizeof(IdentificationTargetDescriptor::designator)) {
      return FailField(cmd, false, at + offsetof(IdentificationTargetDescriptor, designator_length));
    }
  }
  // Segment descriptors: counted, then checked one by one.
  struct Parsed {
    uint16_t src, dst;
    uint32_t blocks;
    uint64_t src_lba, dst_lba;
  };
  std::vector<Parsed> parsed;
  const uint8_t* segs = targets + tdl;
  for (uint32_t off = 0; off < sdl;) {
    if (sdl - off < 4 || 4u + GetBe16(segs + off + 2) > sdl - off) {
      return Fail(cmd, SenseKey::kIllegalRequest, asc::kParameterListLengthError);
    }
    const uint8_t* d = segs + off;
    const uint16_t at = static_cast<uint16_t>(kHeader + tdl + off);
    if (parsed.size() == kMaxCopySegmentDescriptors) {
      return Fail(cmd, SenseKey::kIllegalRequest, asc::kTooManySegmentDescriptors);
    }
    if (d[0] != kSegmentDescriptorBlockToBlock) {
      return Fail(cmd, SenseKey::kIllegalRequest, asc::kUnsupportedSegmentDescriptorTypeCode);
    }
    if (GetBe16(d + offsetof(BlockToBlockSegmentDescriptor, descriptor_length)) !=
        kBlockToBlockBytes - 4) {
      return FailField(cmd, false, at + offsetof(BlockToBlockSegmentDescriptor, descriptor_length));
    }
    Parsed s;
    s.src = GetBe16(d + offsetof(BlockToBlockSegmentDescriptor, source_target_descriptor_index));
    s.dst = GetBe16(d + offsetof(BlockToBlockSegmentDescriptor, destination_target_descriptor_index));
    s.blocks = GetBe16(d + offsetof(BlockToBlockSegmentDescriptor, block_device_number_of_blocks));
    s.src_lba = GetBe64(d + offsetof(BlockToBlockSegmentDescriptor, source_block_device_logical_block_address));
    s.dst_lba = GetBe64(d + offsetof(BlockToBlockSegmentDescriptor, destination_block_device_logical_block_address));
    parsed.push_back(s);
    off += kBlockToBlockBytes;
  }
  // Resolve the copy targets the segments use (each once), then check every segment
  // against them before anything is copied.
  std::vector<std::shared_ptr<LogicalUnit>> lus(ntargets);
  std::vector<uint8_t> access(ntargets, 0);  // 1 read, 2 written
  std::vector<CopySegment> segments;
  for (size_t i = 0; i < parsed.size(); ++i) {
    const Parsed& s = parsed[i];
    if (s.src >= ntargets || s.dst >= ntargets) {
      return CopyAborted(cmd, asc::kCopyTargetDeviceNotReachable);
    }
    for (uint16_t idx : {s.src, s.dst}) {
      if (!lus[idx] && !ResolveTarget(cmd, targets + idx * kTargetDescriptorBytes, &lus[idx])) return;
    }
    access[s.src] |= 1;
    access[s.dst] |= 2;
    CopySegment c;
    c.src = lus[s.src];
    c.dst = lus[s.dst];
    c.src_lba = s.src_lba;
    c.dst_lba = s.dst_lba;
    c.blocks = s.blocks;
    const uint32_t bs = c.src->block_size();
    if (c.dst->block_size() != bs) {
      return CopyAborted(cmd, asc::kIncorrectCopyTargetDeviceType);
    }
    if (uint64_t{s.blocks} * bs > kMaxCopySegmentBytes) {
      return FailField(cmd, false,
                       static_cast<uint16_t>(kHeader + tdl + i * kBlockToBlockBytes +
                                             offsetof(BlockToBlockSegmentDescriptor, block_device_number_of_blocks)));
    }
    // Out of a copy target's range: COPY ABORTED (no additional sense), INFORMATION = the
    // first LBA past its end.
    for (const auto& [lu, lba] : {std::pair{c.src.get(), c.src_lba}, std::pair{c.dst.get(), c.dst_lba}}) {
      const uint64_t nb = lu->num_blocks();
      if (lba > nb || c.blocks > nb - lba) return CopyAborted(cmd, asc::kNone, true, nb);
    }
    c.backward = c.src == c.dst && c.dst_lba > c.src_lba && c.dst_lba < c.src_lba + c.blocks;
    segments.push_back(std::move(c));
  }
  for (size_t i = 0; i < ntargets; ++i) {
    if (access[i] && !CheckCopyTargetAccess(cmd, lus[i].get(), access[i] & 2)) return;
  }
  if (segments.empty()) return Complete(cmd);
  int active = g_active_copies.load();
  do {
    if (active >= kMaxConcurrentCopies) {
      return Fail(cmd, SenseKey::kIllegalRequest, asc::kInsufficientResources);
    }
  } while (!g_active_copies.compare_exchange_weak(active, active + 1));
  const bool tracked = cmd->nexus != nullptr && usage != kListIdUsageNone;
  if (tracked && !RegisterCopyList(cmd->lu.get(), *cmd->nexus, list_id, usage == kListIdUsageHold)) {
    g_active_copies.fetch_sub(1);
    return Fail(cmd, SenseKey::kIllegalRequest, asc::kOperationInProgress);
  }
  (new CopyOperation(cmd, std::move(segments), tracked, list_id))->Pump();
}

// ---- THIRD-PARTY COPY IN: RECEIVE COPY RESULTS (LID1), SPC-4 6.18 ----
void ReceiveCopyResults(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const uint8_t sa = cmd->cdb[1] & 0x1f;
  const uint8_t list_id = cmd->cdb[offsetof(ReceiveCopyResultsCdb, list_identifier)];
  const uint32_t alloc = GetBe32(cmd->cdb + offsetof(ReceiveCopyResultsCdb, allocation_length));
  if (sa == kSaOperatingParameters) {
    OperatingParametersData d{};
    const uint8_t implemented[] = {kSegmentDescriptorBlockToBlock, kTargetDescriptorIdentification};
    PutBe32(d.available_data, sizeof(d) + sizeof(implemented) - 4);
    PutBe16(d.maximum_target_descriptor_count, kMaxCopyTargetDescriptors);
    PutBe16(d.maximum_segment_descriptor_count, kMaxCopySegmentDescriptors);
    PutBe32(d.maximum_descriptor_list_length, kMaxCopyDescriptorListLength);
    PutBe32(d.maximum_segment_length, kMaxCopySegmentBytes);
    PutBe16(d.total_concurrent_copies, kMaxConcurrentCopies);
    d.maximum_concurrent_copies = static_cast<uint8_t>(kMaxConcurrentCopies);
    uint8_t log2 = 0;
    while ((1u << log2) < lu->block_size()) ++log2;
    d.data_segment_granularity = log2;
    d.implemented_descriptor_list_length = sizeof(implemented);
    std::vector<uint8_t> v(reinterpret_cast<const uint8_t*>(&d),
                           reinterpret_cast<const uint8_t*>(&d) + sizeof(d));
    v.insert(v.end(), implemented, implemented + sizeof(implemented));
    return FinishDataIn(cmd, v, alloc);
  }
  // COPY STATUS: of a copy this nexus started with LIST ID USAGE 00b (held).
  CopyListState st;
  bool found = false;
  if (cmd->nexus) {
    std::lock_guard<std::mutex> l(lu->mutex());
    auto& lists = lu->NexusStateLocked(*cmd->nexus).copy_lists;
    auto it = lists.find(list_id);
    if (it != lists.end() && it->second.hold) {
      st = it->second;
      found = true;
    }
  }
  if (!found) return FailField(cmd, true, offsetof(ReceiveCopyResultsCdb, list_identifier));
  CopyStatusData d{};
  PutBe32(d.available_data, sizeof(d) - 4);
  d.copy_manager_status = st.active ? kCopyStatusInProgress
                                    : st.failed ? kCopyStatusFailed : kCopyStatusCompleted;
  PutBe16(d.segments_processed, st.segments_processed);
  // TRANSFER COUNT UNITS: bytes, or the smallest power of 1024 that fits in 32 bits.
  uint64_t count = st.bytes_copied;
  uint8_t units = 0;
  while (count > 0xffffffffu) {
    count >>= 10;
    ++units;
  }
  d.transfer_count_units = units;
  PutBe32(d.transfer_count, static_cast<uint32_t>(count));
  FinishDataIn(cmd, reinterpret_cast<const uint8_t*>(&d), sizeof(d), alloc);
}

// ---- Third-party Copy VPD page, SPC-4 7.8.17 ----
void AppendThirdPartyCopyVpd(const LogicalUnit& lu, std::vector<uint8_t>& v) {
  // Each descriptor: TYPE (2), LENGTH (2), then its body padded to a multiple of four.
  auto descriptor = [&v](uint16_t type, const std::vector<uint8_t>& body) {
    const size_t padded = (body.size() + 3) & ~size_t{3};
    uint8_t h[4];
    PutBe16(h, type);
    PutBe16(h + 2, static_cast<uint16_t>(padded));
    v.insert(v.end(), h, h + 4);
    v.insert(v.end(), body.begin(), body.end());
    v.insert(v.end(), padded - body.size(), 0);
  };
  // Supported commands: EXTENDED COPY (LID1); RECEIVE COPY RESULTS COPY STATUS and
  // OPERATING PARAMETERS.
  const std::vector<uint8_t> commands = {kThirdPartyCopyOut, 1, kSaExtendedCopyLid1,
                                         kThirdPartyCopyIn,  2, kSaCopyStatusLid1,
                                         kSaOperatingParameters};
  std::vector<uint8_t> body = {static_cast<uint8_t>(commands.size())};
  body.insert(body.end(), commands.begin(), commands.end());
  descriptor(kTpcSupportedCommands, body);
  // Parameter data.
  body.assign(28, 0);
  PutBe16(&body[4], kMaxCopyTargetDescriptors);
  PutBe16(&body[6], kMaxCopySegmentDescriptors);
  PutBe32(&body[8], kMaxCopyDescriptorListLength);
  descriptor(kTpcParameterData, body);  // MAXIMUM INLINE DATA LENGTH 0
  // Supported descriptors: block to block segments, identification target descriptors.
  descriptor(kTpcSupportedDescriptors, {2, kSegmentDescriptorBlockToBlock, kTargetDescriptorIdentification});
  // Supported CSCD descriptor IDs: none.
  descriptor(kTpcSupportedCscdIds, {0, 0});
  // General copy operations.
  body.assign(32, 0);
  PutBe32(&body[0], kMaxConcurrentCopies);  // TOTAL CONCURRENT COPIES
  PutBe32(&body[4], kMaxConcurrentCopies);  // MAXIMUM IDENTIFIED CONCURRENT COPIES
  PutBe32(&body[8], kMaxCopySegmentBytes);
  uint8_t log2 = 0;
  while ((1u << log2) < lu.block_size()) ++log2;
  body[12] = log2;  // DATA SEGMENT GRANULARITY
  descriptor(kTpcGeneralCopyOperations, body);
}

}  // namespace modtgt::scsi
