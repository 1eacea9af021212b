// SPDX-License-Identifier: Apache-2.0
// SANITIZE (SBC-4 5.30, 4.11): OVERWRITE (the initialization pattern over every block,
// OVERWRITE COUNT passes, inverted between passes with INVERT), BLOCK ERASE (unmap the
// whole medium; offered only where the store unmaps to zeros), EXIT FAILURE MODE. CRYPTO
// ERASE is offered by no store (none holds an encryption key to destroy) and answers like
// any service action the LU does not offer: ILLEGAL REQUEST / INVALID FIELD IN CDB.
//
// The sanitize operation is an LU's, not a command's (SBC-4 4.11.3): it runs in chunks
// through a BackgroundIo with its own bounded buffer and continues whatever happens to the
// command that started it (IMMED, ABORT TASK, LUN RESET, I_T nexus loss). Meanwhile
// dispatch answers most commands NOT READY / SANITIZE IN PROGRESS with the progress
// (SanitizeRefuses). A failed operation leaves the LU in sanitize failure mode.
#include <algorithm>
#include <cstring>
#include <memory>

#include "common/byteorder.h"
#include "common/log.h"
#include "modtgt/module.h"
#include "scsi/background_io.h"
#include "scsi/dispatch.h"
#include "scsi/handler_util.h"
#include "scsi/logical_unit.h"
#include "scsi/sbc.h"
#include "scsi/sbc_internal.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "scsi/spec.h"

namespace modtgt::scsi {
namespace sbc_internal {
namespace {

// Bytes per OVERWRITE write and per BLOCK ERASE unmap: the operation's buffer, and how
// often its progress (and an abort of its command) is looked at.
constexpr uint32_t kOverwriteChunkBytes = 1u << 20;
constexpr uint64_t kEraseChunkBytes = 1ull << 30;

class SanitizeOperation : public BackgroundIo {
 public:
  // cmd: the SANITIZE to complete when the operation ends, or nullptr (IMMED: completed).
  SanitizeOperation(std::shared_ptr<LogicalUnit> lu, env::EventLoop* loop, Command* cmd,
                    uint8_t sa, bool ause, uint32_t passes, bool invert)
      : BackgroundIo(loop),
        lu_(std::move(lu)),
        cmd_(cmd),
        sa_(sa),
        ause_(ause),
        passes_(passes),
        invert_(invert),
        end_(lu_->num_blocks() * lu_->block_size()),
        total_(sa == kSaSanitizeOverwrite ? end_ * passes : end_) {}

  // OVERWRITE: fills the chunk buffer with the initialization pattern repeated in every
  // block (SBC-4 5.30.3: a pattern shorter than a block is repeated to fill it).
  void SetPattern(const uint8_t* pattern, uint32_t len) {
    const uint32_t bs = lu_->block_size();
    const uint64_t chunk = std::min<uint64_t>(std::max<uint32_t>(kOverwriteChunkBytes, bs), end_);
    Buffer& b = buffer();
    b.Resize(chunk / bs * bs);
    for (uint32_t i = 0; i < bs; ++i) b.data()[i] = pattern[i % len];
    for (size_t filled = bs; filled < b.size();) {
      const size_t n = std::min(filled, b.size() - filled);
      std::memcpy(b.data() + filled, b.data(), n);
      filled += n;
    }
  }

 protected:
  bool Next() override {
    if (issued_) {
      if (last_status() != MODTGT_STS_OK) return Finish(false);
      if (io().op != IoOp::kFlush) done_ += io().length;
      lu_->sanitize_progress.store(
          static_cast<uint16_t>(std::min<uint64_t>(done_ * 65536 / std::max<uint64_t>(total_, 1), 65535)),
          std::memory_order_relaxed);
    }
    issued_ = true;
    // An aborted SANITIZE command ends; its operation does not (SBC-4 4.11.3).
    if (cmd_ != nullptr && cmd_->aborted.load(std::memory_order_relaxed)) {
      cmd_->status = Status::kTaskAborted;
      Complete(cmd_);
      cmd_ = nullptr;
    }
    Backend* backend = lu_->backend();
    if (pos_ < end_) {
      if (sa_ == kSaSanitizeOverwrite) {
        const uint64_t n = std::min<uint64_t>(buffer().size(), end_ - pos_);
        SetIo(backend, IoOp::kWrite, pos_, n);
      } else {
        SetIo(backend, IoOp::kUnmap, pos_, std::min(kEraseChunkBytes, end_ - pos_));
      }
      pos_ += io().length;
      return true;
    }
    if (sa_ == kSaSanitizeOverwrite && ++pass_ < passes_) {
      pos_ = 0;
      if (invert_) {
        uint8_t* p = buffer().data();
        for (size_t i = 0; i < buffer().size(); ++i) p[i] = static_cast<uint8_t>(~p[i]);
      }
      return Next();
    }
    if (!flushed_ && backend->has_flush()) {  // on stable storage before it counts as done
      flushed_ = true;
      SetIo(backend, IoOp::kFlush, 0, 0);
      return true;
    }
    return Finish(true);
  }

 private:
  // Ends the operation: the LU leaves the sanitize state (in failure mode if !ok), the
  // waiting command completes, and this object is deleted. Returns false (for Next).
  bool Finish(bool ok) {
    if (!ok) {
      LOG_ERROR("sanitize of %s lun %llu failed (I/O status %d): the LU is in sanitize "
                "failure mode", lu_->target_name().c_str(),
                static_cast<unsigned long long>(lu_->lun()), last_status());
    }
    lu_->sanitize_failed_ause.store(!ok && ause_);
    lu_->sanitize_failed.store(!ok);
    lu_->sanitize_progress.store(0);
    lu_->sanitizing.store(false, std::memory_order_release);
    if (cmd_ != nullptr) {
      if (!ok) SetCheckCondition(cmd_, SenseKey::kMediumError, asc::kSanitizeCommandFailed);
      Complete(cmd_);
    }
    delete this;
    return false;
  }

  std::shared_ptr<LogicalUnit> lu_;  // kept alive (and its backend open) until the end
  Command* cmd_;
  const uint8_t sa_;
  const bool ause_;
  const uint32_t passes_;
  const bool invert_;
  const uint64_t end_;    // medium bytes
  const uint64_t total_;  // bytes the whole operation writes or unmaps
  uint64_t pos_ = 0;
  uint64_t done_ = 0;
  uint32_t pass_ = 0;
  bool issued_ = false;
  bool flushed_ = false;
};

// Validates the OVERWRITE parameter list (SBC-4 5.30.3). False with cmd completed.
bool ParseOverwrite(Command* cmd, uint16_t plen, uint32_t* passes, bool* invert,
                    const uint8_t** pattern, uint16_t* pattern_len) {
  const uint32_t bs = cmd->lu->block_size();
  // PARAMETER LIST LENGTH: more than the header, at most a block of pattern after it.
  if (plen <= sizeof(SanitizeOverwriteParameterList) ||
      plen > bs + sizeof(SanitizeOverwriteParameterList)) {
    FailField(cmd, true, offsetof(SanitizeCdb, parameter_list_length));
    return false;
  }
  if (DataOutAvailable(cmd, plen) < plen) {
    Fail(cmd, SenseKey::kIllegalRequest, asc::kParameterListLengthError);
    return false;
  }
  const uint8_t* p = cmd->data.data();
  const uint8_t flags = p[offsetof(SanitizeOverwriteParameterList, flags)];
  const uint16_t len =
      GetBe16(p + offsetof(SanitizeOverwriteParameterList, initialization_pattern_length));
  if (flags & kOverwriteTestMask) {  // vendor test modes: none
    FailField(cmd, false, offsetof(SanitizeOverwriteParameterList, flags), 6);
    return false;
  }
  if ((flags & kOverwriteCountMask) == 0) {
    FailField(cmd, false, offsetof(SanitizeOverwriteParameterList, flags));
    return false;
  }
  if (len == 0 || len > bs || len > plen - sizeof(SanitizeOverwriteParameterList)) {
    FailField(cmd, false, offsetof(SanitizeOverwriteParameterList, initialization_pattern_length));
    return false;
  }
  *passes = flags & kOverwriteCountMask;
  *invert = flags & kOverwriteInvert;
  *pattern = p + sizeof(SanitizeOverwriteParameterList);
  *pattern_len = len;
  return true;
}

}  // namespace

// BLOCK ERASE deallocates every LBA: afterwards they read as zero (LBPRZ) and GET LBA STATUS
// must report them deallocated, which only a store that reports its real allocation can do
// (one without get_lba_status answers "mapped"; libiscsi's Sanitize.BlockErase checks both).
bool CanBlockErase(const LogicalUnit& lu) {
  return SbcLbprz(lu) && lu.backend()->has_lba_status();
}

// ---- SANITIZE: SBC-4 5.30 ----
void Sanitize(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const uint8_t* cdb = cmd->cdb;
  const uint8_t flags = cdb[offsetof(SanitizeCdb, flags)];
  const uint8_t sa = flags & 0x1f;
  const bool immed = flags & kSanitizeImmed;
  const bool ause = flags & kSanitizeAuse;
  const uint16_t plen = GetBe16(cdb + offsetof(SanitizeCdb, parameter_list_length));
  cmd->data_out_needed = plen;
  if (flags & 0x40) return FailField(cmd, true, offsetof(SanitizeCdb, flags), 6);
  for (size_t i = 0; i < sizeof(SanitizeCdb::reserved); ++i) {
    if (cdb[offsetof(SanitizeCdb, reserved) + i] != 0) {
      return FailField(cmd, true, static_cast<uint16_t>(offsetof(SanitizeCdb, reserved) + i));
    }
  }
  // BLOCK ERASE and EXIT FAILURE MODE take no parameter list.
  if (sa != kSaSanitizeOverwrite && plen != 0) {
    return FailField(cmd, true, offsetof(SanitizeCdb, parameter_list_length));
  }
  if (sa == kSaSanitizeExitFailureMode) {
    // SBC-4 4.11.5: leaves failure mode only after a sanitize that failed with AUSE set;
    // outside failure mode there is nothing to leave.
    if (lu->sanitize_failed.load() && !lu->sanitize_failed_ause.load()) {
      return FailField(cmd, true, offsetof(SanitizeCdb, flags), 4);
    }
    lu->sanitize_failed.store(false);
    lu->sanitize_failed_ause.store(false);
    return Complete(cmd);
  }
  uint32_t passes = 1;
  bool invert = false;
  const uint8_t* pattern = nullptr;
  uint16_t pattern_len = 0;
  if (sa == kSaSanitizeOverwrite &&
      !ParseOverwrite(cmd, plen, &passes, &invert, &pattern, &pattern_len)) {
    return;
  }
  bool idle = false;
  if (!lu->sanitizing.compare_exchange_strong(idle, true, std::memory_order_acq_rel)) {
    // Another SANITIZE got in first (dispatch refuses commands once it runs).
    SenseExtras x;
    x.has_progress = true;
    x.progress = lu->sanitize_progress.load();
    SetCheckConditionEx(cmd, SenseKey::kNotReady, asc::kLunNotReadySanitizeInProgress, x);
    return Complete(cmd);
  }
  lu->sanitize_progress.store(0);
  auto* op = new SanitizeOperation(cmd->lu, cmd->owner->loop(), immed ? nullptr : cmd,
                                   static_cast<uint8_t>(sa), ause, passes, invert);
  if (pattern != nullptr) op->SetPattern(pattern, pattern_len);  // copied out of cmd->data
  // SBC-4 5.30.1 IMMED: GOOD once the CDB and parameters are checked; the operation goes on.
  if (immed) Complete(cmd);
  op->Pump();
}

}  // namespace sbc_internal

bool SbcCanBlockErase(const LogicalUnit& lu) { return sbc_internal::CanBlockErase(lu); }

bool SanitizeRefuses(Command* cmd, const OpInfo& op) {
  LogicalUnit* lu = cmd->lu.get();
  if (lu->sanitizing.load(std::memory_order_acquire)) {
    // SBC-4 4.11.3: what may run while a sanitize operation is in progress.
    if ((op.flags & kOpNoUnitAttention) || op.opcode == kMaintenanceIn) return false;
    SenseExtras x;
    x.has_progress = true;
    x.progress = lu->sanitize_progress.load(std::memory_order_relaxed);
    SetCheckConditionEx(cmd, SenseKey::kNotReady, asc::kLunNotReadySanitizeInProgress, x);
    return true;
  }
  if (lu->sanitize_failed.load(std::memory_order_relaxed) && (op.flags & kOpNeedsMedium) &&
      op.opcode != kSanitize) {
    SetCheckCondition(cmd, SenseKey::kMediumError, asc::kSanitizeCommandFailed);
    return true;
  }
  return false;
}

}  // namespace modtgt::scsi
