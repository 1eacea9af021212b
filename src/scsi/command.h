// SPDX-License-Identifier: Apache-2.0
// Command: one SCSI command from arrival to response, plus the pieces every layer of the
// data path shares: data direction, task attributes, the data buffer, the I_T nexus, the
// owner that gets the finished command back, and the CommandOwner interface.
//
// Threading: a Command belongs to the event loop of the connection that received it
// (owner->loop()). Only backing-store I/O runs elsewhere, on cmd->io; its completion is
// handed back to the owning loop (scsi::IoDone). Commands are pooled by the transport and
// reused; Reset() keeps the data buffer's capacity so the hot path does not allocate.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "env/event_loop.h"
#include "scsi/spec.h"

namespace modtgt::scsi {

class LogicalUnit;
class TargetView;
struct Command;

enum class DataDirection : uint8_t { kNone = 0, kRead = 1 /* Data-In */, kWrite = 2, kBidi = 3 };
enum class TaskAttribute : uint8_t { kUntagged = 0, kSimple = 1, kOrdered = 2, kHeadOfQueue = 3, kAca = 4 };

// A growable byte buffer aligned to 4 KiB (usable with O_DIRECT). Resize() never shrinks
// the allocation, so a pooled command stops allocating once it has seen its largest I/O.
// Not thread-safe.
class Buffer {
 public:
  Buffer() = default;
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  // Sets size() to n. Contents up to min(old size, n) are kept. Aborts when out of memory.
  void Resize(size_t n);
  // Resize(n) and zero the n bytes.
  void ResizeZeroed(size_t n);
  // Drops the allocation if it is larger than keep_bytes (for idle pooled commands).
  void Trim(size_t keep_bytes);

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// One shared, read-only buffer of kZeroBufferBytes zero bytes (anonymous memory mapped
// PROT_READ: every page is the kernel's zero page). Transports send the Data-In of a
// command with Command::data_zero from it, one iovec per kZeroBufferBytes. Thread-safe;
// mapped on first use, never unmapped.
inline constexpr size_t kZeroBufferBytes = 256 * 1024;
const uint8_t* ZeroBuffer();

// The I_T nexus: one initiator port talking to one target port. Owned by the transport's
// session; lives as long as the session. Immutable after creation.
struct Nexus {
  uint64_t id = 0;               // unique for the daemon's lifetime
  std::string initiator_name;    // "iqn.1993-08.org.debian:01:abc"
  std::string initiator_port;    // SPC TransportID form: "<name>,i,0x<isid>"
  std::string target_name;       // target IQN
  std::string target_port;       // "<target name>,t,0x<tpgt>"
  uint16_t relative_port_id = 1; // relative target port identifier (TPGT)
  std::shared_ptr<TargetView> target;
  // The initiator's address (the session's leading connection; AF_UNSPEC if unknown): what
  // a target's ACL is checked against when EXTENDED COPY reaches another target's LU.
  sockaddr_storage initiator_address{};
};

// Implemented by a transport connection. CommandDone() is called on loop() exactly once per
// submitted command, after which the SCSI layer no longer touches the command.
class CommandOwner {
 public:
  virtual ~CommandOwner() = default;
  virtual env::EventLoop* loop() const = 0;
  virtual void CommandDone(Command* cmd) = 0;
};

// Backing-store operations (see include/modtgt/module.h for their semantics).
enum class IoOp : uint8_t {
  kRead, kWrite, kFlush, kUnmap, kWriteSame, kCaw, kHandleCmd,
  kLbaStatus,  // get_lba_status: the provisioning state at offset, into IoRequest::extent
};

// The answer of a kLbaStatus I/O (the layout of module.h's modtgt_lba_status): the state
// at IoRequest::offset and how many bytes from there share it.
struct LbaExtent {
  uint64_t length = 0;
  uint32_t state = 0;  // MODTGT_LBA_MAPPED / MODTGT_LBA_DEALLOCATED
  uint32_t reserved = 0;
};

// One I/O issued to a Backend on behalf of a command. The SCSI layer fills it, calls
// Backend::Submit, and gets `done` called on the owning loop with `status` set.
struct IoRequest {
  IoOp op = IoOp::kRead;
  uint32_t flags = 0;        // MODTGT_IO_FUA, MODTGT_IO_ATOMIC
  uint64_t offset = 0;       // bytes
  uint64_t length = 0;       // bytes (unmap/write_same/caw range)
  iovec iov[2] = {};         // data (points into Command::data)
  int iovcnt = 0;
  int status = 0;            // modtgt_status of the completion
  // kRead / kHandleCmd (module ABI 1.6, MODTGT_STS_ZEROS): zeros_ok is set by a user that
  // can take "the range reads as zeros" without the bytes in its buffer (a READ, whose
  // Data-In the transport then sends from ZeroBuffer()). scsi::IoDone turns a ZEROS
  // completion into MODTGT_STS_OK and sets `zeros` (zeros_ok) or zero-fills iov (every
  // other user: COMPARE AND WRITE, VERIFY, EXTENDED COPY, ... read real bytes).
  bool zeros_ok = false;
  bool zeros = false;
  LbaExtent extent;          // kLbaStatus: filled by the backend
  void (*done)(Command* cmd) = nullptr;  // continuation, runs on the owning loop
};

inline constexpr size_t kMaxCdbLength = 32;
inline constexpr size_t kMaxSenseLength = 96;

// The SBC emulation's per-command state across its asynchronous steps (src/scsi/sbc*.cc):
// named, typed fields instead of scratch slots. Each field says which commands use it;
// the others leave it alone. Lives inside Command (no allocation per I/O) and is reset
// with it.
struct SbcState {
  // Prepares cmd->io for the next backend I/O and returns true, or completes the command
  // and returns false (the step driver of sbc_provisioning.cc).
  using StepFn = bool (*)(Command* cmd);
  // Continues a command once its LBA range is locked (sbc_range_lock.cc).
  using ResumeFn = void (*)(Command* cmd);

  // The LBA range the command works on: COMPARE AND WRITE and ORWRITE (the range locked,
  // read and written), WRITE AND VERIFY (written, then read back), VERIFY with BYTCHK (read
  // and compared); the WRITE SAME emulation (the next LBA to write, the blocks left).
  uint64_t lba = 0;
  uint64_t blocks = 0;
  // VERIFY with BYTCHK: the Data-Out bytes compared with each stretch of the medium (the
  // whole range for BYTCHK 01b, one block for 11b).
  uint64_t compare_bytes = 0;
  // UNMAP: the next block descriptor to issue, and how many there are.
  uint32_t next_descriptor = 0;
  uint32_t descriptor_count = 0;
  // COMPARE AND WRITE, ORWRITE: IoRequest::flags of the write step (MODTGT_IO_FUA).
  uint32_t write_flags = 0;
  // The step driver (WRITE SAME emulation, UNMAP): the next step, and whether a
  // Backend::Submit of it is under way / completed before returning.
  bool step_in_submit = false;
  bool step_completed_inline = false;
  StepFn step = nullptr;
  // The range lock (COMPARE AND WRITE and ORWRITE emulation): runs once the range is held.
  ResumeFn resume = nullptr;
  // GET LBA STATUS: the requested STARTING LOGICAL BLOCK ADDRESS, the LBA the next
  // backend query starts at (a physical block boundary), the descriptors written into
  // the Data-In buffer and the most it may hold, the backend queries made, and whether
  // one is in flight (its answer is in IoRequest::extent).
  uint64_t status_start = 0;
  uint64_t status_next = 0;
  uint32_t status_descriptors = 0;
  uint32_t status_max_descriptors = 0;
  uint32_t status_queries = 0;
  bool status_query_pending = false;
};

struct Command : env::Completion {
  // ---- Set by the transport before scsi::Submit() ----
  uint8_t cdb[kMaxCdbLength] = {};
  uint8_t cdb_len = 0;
  uint64_t lun = 0;                // LUN number (SAM flat/peripheral addressing decoded)
  TaskAttribute attr = TaskAttribute::kSimple;
  DataDirection dir = DataDirection::kNone;
  uint32_t expected_length = 0;    // bytes the initiator expects to move (iSCSI EDTL)
  uint32_t tag = 0;                // transport's task tag (iSCSI ITT), for task management
  Nexus* nexus = nullptr;
  CommandOwner* owner = nullptr;
  // Write: holds the Data-Out received (expected_length bytes). Read: the SCSI layer fills
  // it and sets data_in_length. Transports send min(data_in_length, expected_length) bytes.
  Buffer data;

  // ---- Set by the SCSI layer ----
  Status status = Status::kGood;
  uint8_t sense_len = 0;
  uint8_t sense[kMaxSenseLength] = {};
  uint32_t data_in_length = 0;     // Data-In bytes the command produced
  // The Data-In bytes read as zeros and `data` does not hold them (a backend completed
  // the READ with MODTGT_STS_ZEROS): transports send them from ZeroBuffer(). Cleared with
  // data_in_length.
  bool data_zero = false;
  // For writes: Data-Out bytes the command consumed per its CDB (for residuals).
  uint32_t data_out_needed = 0;
  std::shared_ptr<LogicalUnit> lu; // set by Submit; null for a LUN that does not exist

  // ---- The SCSI layer's execution state ----
  IoRequest io;
  std::atomic<bool> aborted{false};
  SbcState sbc;                    // SBC commands' state across asynchronous steps
  uint64_t submit_time_ms = 0;

  // Makes the command ready for reuse; keeps data's allocation.
  void Reset();
  const uint8_t* cdb_ptr() const { return cdb; }
  bool is_good() const { return status == Status::kGood; }
};

}  // namespace modtgt::scsi
