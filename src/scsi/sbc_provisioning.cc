// SPDX-License-Identifier: Apache-2.0
// SBC-4 logical block provisioning (SBC-4 4.7): WRITE SAME (10/16), with or without
// UNMAP, UNMAP, and GET LBA STATUS; and the step driver that runs the multi-I/O
// emulations (WRITE SAME through write(), UNMAP with several block descriptors) one
// backend I/O after another, looping instead of recursing when a backend completes
// inline. Handlers run on the command's owning loop; their state is in cmd->sbc.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/byteorder.h"
#include "modtgt/module.h"
#include "scsi/backend.h"
#include "scsi/dispatch.h"
#include "scsi/handler_util.h"
#include "scsi/logical_unit.h"
#include "scsi/sbc_internal.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "scsi/spec.h"

namespace modtgt::scsi::sbc_internal {
namespace {

// ---- The step driver ----

void StepDone(Command* cmd);

// Checks the I/O just completed; false (command completed) on error or abort.
bool StepResultOk(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK) {
    SetStatusFromIo(cmd, cmd->io.status);
    Complete(cmd);
    return false;
  }
  if (cmd->aborted.load(std::memory_order_relaxed)) {
    cmd->status = Status::kTaskAborted;
    Complete(cmd);
    return false;
  }
  return true;
}

void StepContinue(Command* cmd) {
  for (;;) {
    if (!cmd->sbc.step(cmd)) return;
    cmd->io.done = &StepDone;
    cmd->sbc.step_in_submit = true;
    cmd->sbc.step_completed_inline = false;
    cmd->lu->backend()->Submit(cmd);
    const bool inline_done = cmd->sbc.step_completed_inline;
    cmd->sbc.step_in_submit = false;
    cmd->sbc.step_completed_inline = false;
    // Asynchronous: StepDone continues on the owning loop once this handler returns.
    if (!inline_done) return;
    if (!StepResultOk(cmd)) return;
  }
}

void StepDone(Command* cmd) {
  if (cmd->sbc.step_in_submit) {
    // Completed before Submit returned: let StepContinue's loop go on (no recursion).
    cmd->sbc.step_completed_inline = true;
    return;
  }
  if (StepResultOk(cmd)) StepContinue(cmd);
}

// ---- WRITE SAME emulation with write() ----
// cmd->sbc.lba = the next LBA to write, .blocks = the blocks left; the data buffer holds
// the block replicated chunk_blocks times.
bool WriteSameNextChunk(Command* cmd) {
  const uint32_t bs = cmd->lu->block_size();
  const uint64_t left = cmd->sbc.blocks;
  if (left == 0) {
    Complete(cmd);
    return false;
  }
  const uint64_t chunk_blocks = cmd->data.size() / bs;
  const uint64_t n = std::min(left, chunk_blocks);
  SetupIo(cmd, IoOp::kWrite, cmd->sbc.lba * bs, n * bs, cmd->data.data(), n * bs, 0, nullptr);
  cmd->sbc.lba += n;
  cmd->sbc.blocks -= n;
  return true;
}

// ---- UNMAP ----
// cmd->sbc.next_descriptor = the next block descriptor, .descriptor_count = how many.
bool UnmapNextDescriptor(Command* cmd) {
  const uint32_t bs = cmd->lu->block_size();
  while (cmd->sbc.next_descriptor < cmd->sbc.descriptor_count) {
    const uint8_t* d = cmd->data.data() + sizeof(UnmapParameterListHeader) +
                       size_t{cmd->sbc.next_descriptor} * sizeof(UnmapBlockDescriptor);
    ++cmd->sbc.next_descriptor;
    const uint64_t lba = GetBe64(d + offsetof(UnmapBlockDescriptor, unmap_logical_block_address));
    const uint32_t blocks = GetBe32(d + offsetof(UnmapBlockDescriptor, number_of_logical_blocks));
    if (blocks == 0) continue;  // SBC-4 5.32.2: not an error
    SetupIo(cmd, IoOp::kUnmap, lba * bs, static_cast<uint64_t>(blocks) * bs, nullptr, 0, 0,
            nullptr);
    return true;
  }
  Complete(cmd);
  return false;
}

}  // namespace

void StepStart(Command* cmd, SbcState::StepFn step) {
  cmd->sbc.step = step;
  cmd->sbc.step_in_submit = false;
  cmd->sbc.step_completed_inline = false;
  StepContinue(cmd);
}

// ---- WRITE SAME (10/16): SBC-4 5.45-5.46 ----

void WriteSame(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  Backend* backend = lu->backend();
  const bool is16 = cmd->cdb[0] == kWriteSame16;
  const uint8_t flags = cmd->cdb[1];
  const bool anchor = flags & 0x10;
  const bool unmap = flags & 0x08;
  const bool ndob = is16 && (flags & 0x01);
  const LbaRange r = DecodeRange(cmd->cdb, is16 ? 16 : 10);
  const uint64_t lba = r.lba;
  uint64_t blocks = r.blocks;
  const uint16_t length_byte = r.length_byte;
  const uint32_t bs = lu->block_size();
  const uint64_t nb = lu->num_blocks();

  if (!CheckNoProtect(cmd)) {
    Complete(cmd);
    return;
  }
  // ANCHOR needs ANC_SUP in VPD 0xB2, which is not offered (SBC-4 5.46).
  if (anchor) {
    SetInvalidField(cmd, true, 1, 4);
    Complete(cmd);
    return;
  }
  // UNMAP=1 where VPD 0xB2 says LBPWS/LBPWS10 = 0 (no provisioning, or a backing store
  // without unmap): refused rather than silently written, as LIO does and libiscsi's
  // WriteSame*.UnmapVPD checks (an UNMAP bit honoured only makes sense with LBPME).
  if (unmap && !SbcLbpEnabled(*lu)) {
    SetInvalidField(cmd, true, 1, 3);
    Complete(cmd);
    return;
  }
  if (blocks == 0) {
    // SBC-4: NUMBER OF LOGICAL BLOCKS 0 = through the last LBA (WSNZ is 0 in VPD 0xB0).
    if (lba >= nb) {
      Fail(cmd, SenseKey::kIllegalRequest, asc::kLbaOutOfRange);
      return;
    }
    blocks = nb - lba;
  }
  if (!CheckRange(cmd, lba, blocks)) {
    Complete(cmd);
    return;
  }
  if (kMaxWriteSameBlocks != 0 && blocks > kMaxWriteSameBlocks) {
    SetInvalidField(cmd, true, length_byte);
    Complete(cmd);
    return;
  }
  // The Data-Out is exactly one logical block (none with NDOB); anything else is a
  // malformed request (libiscsi WriteSame*.InvalidDataOutSize).
  cmd->data_out_needed = ndob ? 0 : bs;
  if (!ndob && (cmd->expected_length != bs || cmd->data.size() < bs)) {
    SetInvalidField(cmd, true, length_byte);
    Complete(cmd);
    return;
  }
  if (ndob) cmd->data.ResizeZeroed(bs);

  const uint64_t offset = lba * bs;
  const uint64_t length = blocks * bs;
  if (unmap && SbcLbpEnabled(*lu)) {
    SetupIo(cmd, IoOp::kUnmap, offset, length, nullptr, 0, 0, &IoFinish);
    backend->Submit(cmd);
    return;
  }
  if (backend->has_write_same()) {
    SetupIo(cmd, IoOp::kWriteSame, offset, length, cmd->data.data(), bs, 0, &IoFinish);
    backend->Submit(cmd);
    return;
  }
  // Emulate: replicate the block into a bounded buffer and write it chunk by chunk.
  const uint64_t chunk_blocks =
      std::min<uint64_t>(blocks, std::max<uint64_t>(1, kWriteSameChunkBytes / bs));
  cmd->data.Resize(chunk_blocks * bs);
  uint8_t* p = cmd->data.data();
  uint64_t filled = bs;
  while (filled < chunk_blocks * bs) {
    uint64_t n = std::min(filled, chunk_blocks * bs - filled);
    std::memcpy(p + filled, p, n);
    filled += n;
  }
  cmd->sbc.lba = lba;
  cmd->sbc.blocks = blocks;
  StepStart(cmd, &WriteSameNextChunk);
}

// ---- UNMAP: SBC-4 5.32 ----

void Unmap(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  if (!SbcLbpEnabled(*lu)) {
    Fail(cmd, SenseKey::kIllegalRequest, asc::kInvalidOpcode);
    return;
  }
  if (cmd->cdb[offsetof(UnmapCdb, anchor)] & 0x01) {  // ANCHOR without ANC_SUP
    SetInvalidField(cmd, true, offsetof(UnmapCdb, anchor), 0);
    Complete(cmd);
    return;
  }
  const uint16_t plen = GetBe16(cmd->cdb + offsetof(UnmapCdb, parameter_list_length));
  cmd->data_out_needed = plen;
  if (plen == 0) {  // "not an error": nothing to unmap
    Complete(cmd);
    return;
  }
  constexpr size_t kHeaderLen = sizeof(UnmapParameterListHeader);
  constexpr size_t kDescriptorLen = sizeof(UnmapBlockDescriptor);
  const uint64_t avail = DataOutAvailable(cmd, plen);
  if (plen < kHeaderLen || avail < kHeaderLen) {
    Fail(cmd, SenseKey::kIllegalRequest, asc::kParameterListLengthError);
    return;
  }
  const uint8_t* p = cmd->data.data();
  const uint16_t bd_len =
      GetBe16(p + offsetof(UnmapParameterListHeader, unmap_block_descriptor_data_length));
  // Descriptors that are not wholly present are ignored (SBC-4 5.32.2: a BLOCK
  // DESCRIPTOR DATA LENGTH beyond the parameter list truncates it).
  const uint64_t count = std::min<uint64_t>(bd_len, avail - kHeaderLen) / kDescriptorLen;
  if (count > kMaxUnmapBlockDescriptors) {
    SetInvalidField(cmd, false,
                    offsetof(UnmapParameterListHeader, unmap_block_descriptor_data_length));
    Complete(cmd);
    return;
  }
  // Validate everything before unmapping anything.
  uint64_t total = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const uint8_t* d = p + kHeaderLen + i * kDescriptorLen;
    const uint64_t lba = GetBe64(d + offsetof(UnmapBlockDescriptor, unmap_logical_block_address));
    const uint32_t blocks = GetBe32(d + offsetof(UnmapBlockDescriptor, number_of_logical_blocks));
    if (!CheckRange(cmd, lba, blocks)) {
      Complete(cmd);
      return;
    }
    total += blocks;
  }
  if (total > kMaxUnmapLbaCount) {
    SetInvalidField(cmd, false,
                    kHeaderLen + offsetof(UnmapBlockDescriptor, number_of_logical_blocks));
    Complete(cmd);
    return;
  }
  cmd->sbc.next_descriptor = 0;
  cmd->sbc.descriptor_count = static_cast<uint32_t>(count);
  StepStart(cmd, &UnmapNextDescriptor);
}

// ---- SERVICE ACTION IN (16): GET LBA STATUS, SBC-4 5.7 ----
//
// With logical block provisioning enabled and a backend that reports its allocation
// (Backend::has_lba_status), the descriptors come from the store: one backend query per
// run of equal state, starting at the physical block that holds the STARTING LOGICAL
// BLOCK ADDRESS. A physical block is reported mapped if any of it is mapped, so a
// deallocated range always covers whole physical blocks (what READ CAPACITY (16)'s
// LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT says unmapping works in); only the end of
// the medium may cut one short. Otherwise one descriptor says everything from the
// starting LBA is mapped. The first descriptor starts at the STARTING LOGICAL BLOCK
// ADDRESS (SBC-4 5.7.2).

namespace {

// LBA status descriptors per command and backend queries per command: bounds on the work
// one GET LBA STATUS can ask for (SBC-4 5.7.2 lets the device server return fewer
// descriptors than fit; the initiator asks again from where the list ended).
constexpr uint32_t kMaxLbaStatusDescriptors = 64;
constexpr uint32_t kMaxLbaStatusQueries = 256;
constexpr uint64_t kMaxDescriptorBlocks = 0xffffffffu;
constexpr uint8_t kProvisioningMapped = 0x0;
constexpr uint8_t kProvisioningDeallocated = 0x1;

uint8_t* StatusDescriptor(Command* cmd, uint32_t i) {
  return cmd->data.data() + sizeof(LbaStatusHeader) + size_t{i} * sizeof(LbaStatusDescriptor);
}

// Appends [lba, lba + blocks) with provisioning status `state`, merging it into the last
// descriptor when that one has the same state and ends at lba. False when the list is
// full (nothing appended).
bool AppendLbaStatus(Command* cmd, uint64_t lba, uint64_t blocks, uint8_t state) {
  SbcState& st = cmd->sbc;
  while (blocks > 0) {
    if (st.status_descriptors > 0) {
      uint8_t* last = StatusDescriptor(cmd, st.status_descriptors - 1);
      const uint64_t last_lba = GetBe64(last + offsetof(LbaStatusDescriptor, lba_status_logical_block_address));
      const uint64_t last_n = GetBe32(last + offsetof(LbaStatusDescriptor, number_of_logical_blocks));
      if ((last[offsetof(LbaStatusDescriptor, provisioning_status)] & 0x0f) == state &&
          last_lba + last_n == lba && last_n < kMaxDescriptorBlocks) {
        const uint64_t add = std::min(blocks, kMaxDescriptorBlocks - last_n);
        PutBe32(last + offsetof(LbaStatusDescriptor, number_of_logical_blocks),
                static_cast<uint32_t>(last_n + add));
        lba += add;
        blocks -= add;
        continue;
      }
    }
    if (st.status_descriptors == st.status_max_descriptors) return false;
    uint8_t* d = StatusDescriptor(cmd, st.status_descriptors++);
    std::memset(d, 0, sizeof(LbaStatusDescriptor));
    const uint64_t n = std::min(blocks, kMaxDescriptorBlocks);
    PutBe64(d + offsetof(LbaStatusDescriptor, lba_status_logical_block_address), lba);
    PutBe32(d + offsetof(LbaStatusDescriptor, number_of_logical_blocks), static_cast<uint32_t>(n));
    d[offsetof(LbaStatusDescriptor, provisioning_status)] = state;
    lba += n;
    blocks -= n;
  }
  return true;
}

// Completes GET LBA STATUS with the descriptors built so far.
void FinishLbaStatus(Command* cmd, uint32_t alloc) {
  const uint32_t len = sizeof(LbaStatusHeader) + cmd->sbc.status_descriptors * sizeof(LbaStatusDescriptor);
  PutBe32(cmd->data.data() + offsetof(LbaStatusHeader, parameter_data_length), len - 4);
  std::memset(cmd->data.data() + 4, 0, 4);
  cmd->data.Resize(len);
  cmd->data_in_length = std::min(alloc, len);
  Complete(cmd);
}

uint32_t LbaStatusAllocLength(const Command* cmd) {
  return GetBe32(cmd->cdb + offsetof(ServiceActionIn16Cdb, allocation_length));
}

// The step function: takes the answer of the query in flight (if any), then asks about the
// next range, or finishes.
bool LbaStatusNextQuery(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  SbcState& st = cmd->sbc;
  const uint64_t nb = lu->num_blocks();
  const uint32_t bs = lu->block_size();
  const uint64_t per_physical = uint64_t{1} << PhysicalBlockExponent(*lu);
  if (st.status_query_pending) {
    st.status_query_pending = false;
    const uint64_t cur = st.status_next;
    const uint64_t asked = (nb - cur) * bs;
    const LbaExtent& e = cmd->io.extent;
    uint64_t end;
    uint8_t state;
    if (e.length == 0 || e.length > asked ||
        (e.state != MODTGT_LBA_MAPPED && e.state != MODTGT_LBA_DEALLOCATED)) {
      // A backend answer that makes no sense: count one physical block mapped (mapped
      // or unknown, SBC-4 5.7.2) and go on.
      end = cur + per_physical;
      state = kProvisioningMapped;
    } else if (e.state == MODTGT_LBA_MAPPED) {
      // Partly mapped physical block at the end: mapped.
      const uint64_t last = cur + (e.length + bs - 1) / bs;
      end = (last + per_physical - 1) / per_physical * per_physical;
      state = kProvisioningMapped;
    } else {
      // Only the whole blocks, and whole physical blocks (or up to the end of the medium),
      // of a hole are deallocated; the rest of its last physical block holds data.
      const uint64_t hole_end = cur + e.length / bs;
      end = hole_end >= nb ? nb : hole_end / per_physical * per_physical;
      state = kProvisioningDeallocated;
      if (end <= cur) {
        end = cur + per_physical;
        state = kProvisioningMapped;
      }
    }
    end = std::min(end, nb);
    const uint64_t from = std::max(cur, st.status_start);
    if (!AppendLbaStatus(cmd, from, end - from, state)) {
      FinishLbaStatus(cmd, LbaStatusAllocLength(cmd));
      return false;
    }
    st.status_next = end;
  }
  if (st.status_next >= nb || st.status_queries >= kMaxLbaStatusQueries) {
    FinishLbaStatus(cmd, LbaStatusAllocLength(cmd));
    return false;
  }
  ++st.status_queries;
  st.status_query_pending = true;
  SetupIo(cmd, IoOp::kLbaStatus, st.status_next * bs, (nb - st.status_next) * bs, nullptr, 0, 0,
          nullptr);
  return true;
}

}  // namespace

void GetLbaStatus(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const uint64_t lba = GetBe64(cmd->cdb + offsetof(ServiceActionIn16Cdb, logical_block_address));
  const uint32_t alloc = LbaStatusAllocLength(cmd);
  const uint64_t nb = lu->num_blocks();
  if (lba >= nb) {
    Fail(cmd, SenseKey::kIllegalRequest, asc::kLbaOutOfRange);
    return;
  }
  SbcState& st = cmd->sbc;
  st.status_start = lba;
  st.status_descriptors = 0;
  st.status_queries = 0;
  st.status_query_pending = false;
  const uint32_t fit = alloc > sizeof(LbaStatusHeader)
                           ? (alloc - sizeof(LbaStatusHeader)) / sizeof(LbaStatusDescriptor)
                           : 0;
  st.status_max_descriptors = std::clamp<uint32_t>(fit, 1, kMaxLbaStatusDescriptors);
  cmd->data.ResizeZeroed(sizeof(LbaStatusHeader) +
                         size_t{st.status_max_descriptors} * sizeof(LbaStatusDescriptor));
  if (!SbcLbpEnabled(*lu) || !lu->backend()->has_lba_status()) {
    // Fully provisioned, or a store that cannot tell: every LBA is mapped.
    AppendLbaStatus(cmd, lba, nb - lba, kProvisioningMapped);
    FinishLbaStatus(cmd, alloc);
    return;
  }
  const uint64_t per_physical = uint64_t{1} << PhysicalBlockExponent(*lu);
  st.status_next = lba / per_physical * per_physical;
  StepStart(cmd, &LbaStatusNextQuery);
}

}  // namespace modtgt::scsi::sbc_internal
