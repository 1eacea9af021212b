// SPDX-License-Identifier: Apache-2.0
// One iSCSI/TCP connection (RFC 7143): the socket read/write state machine, the login phase
// (driving iscsi::Login), and the full feature phase: SCSI Command, Data-Out/R2T, Data-In and
// SCSI Response, NOP, Text (SendTargets), Logout, Task Management, Reject, Async Message.
//
// Data path: PDUs are parsed out of a receive buffer filled with large reads; a long data
// segment (immediate data, Data-Out) is read straight into the command's buffer with readv.
// Responses are queued as iovecs (headers staged in one buffer, Data-In payload pointing into
// the command's buffer) and written with sendmsg in batches. Commands come from a pool of
// Tasks (each a scsi::Command) owned by the connection: no allocation per I/O.
//
// Threading: a Connection belongs to one event loop. Every method, except where noted, runs
// on that loop. Other threads reach it by posting to loop() while holding a shared_ptr.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "env/event_loop.h"
#include "iscsi/login.h"
#include "iscsi/params.h"
#include "iscsi/pdu.h"
#include "iscsi/session.h"
#include "scsi/command.h"

namespace modtgt::core {
class TargetRegistry;
}

namespace modtgt::iscsi {

// ---- Pure helpers (unit tested) ----

// Residual over/underflow (RFC 7143 11.4.5): `expected` is the EDTL, `actual` what the
// command transferred (reads) or needed (writes).
struct Residual {
  bool overflow = false;
  bool underflow = false;
  uint32_t count = 0;
};
Residual ComputeResidual(uint32_t expected, uint32_t actual);

// One Data-In PDU of a read: `length` bytes at `offset`; `final` sets the F bit, which ends a
// sequence: at every MaxBurstLength boundary and at the end of the data (RFC 7143 11.7.1).
struct DataInSlice {
  uint32_t offset = 0;
  uint32_t length = 0;
  bool final = false;
};
// REQUIRES: offset < total, max_segment > 0, max_burst > 0.
DataInSlice NextDataIn(uint32_t offset, uint32_t total, uint32_t max_segment, uint32_t max_burst);

// CRC32C digests (RFC 7143 12.1) on the raw register, for the data path: start with
// kDigestInit, Update over each piece, Final. Same values as iscsi::Crc32c; on the wire
// with PutDigest (pdu.h, little-endian).
inline constexpr uint32_t kDigestInit = 0xffffffffu;
uint32_t DigestUpdate(uint32_t state, const void* data, size_t len);
inline uint32_t DigestFinal(uint32_t state) { return state ^ 0xffffffffu; }

class Connection;

// What a connection needs from its transport. Implemented by IscsiTransport (and fakes).
class ConnectionHost {
 public:
  virtual ~ConnectionHost() = default;
  virtual core::TargetRegistry* targets() = 0;
  virtual const TargetLimits& limits() = 0;
  virtual SessionTable* sessions() = 0;
  // Commands currently in the core, across connections (for Shutdown's drain). Thread-safe.
  virtual std::atomic<int64_t>& commands_in_core() = 0;
  // Called on the connection's loop once it is closed and idle (no command in the core).
  // The host drops its reference later (never inside this call's stack).
  virtual void ConnectionFinished(Connection* conn) = 0;
};

class Connection : public env::EventHandler,
                   public scsi::CommandOwner,
                   public LoginEnvironment,
                   public std::enable_shared_from_this<Connection> {
 public:
  // Session queue depth (commands in the CmdSN window) and the task pool per connection.
  static constexpr uint32_t kCmdWindow = 128;
  static constexpr uint32_t kMaxR2tPerTask = 16;
  static constexpr uint64_t kLoginTimeoutMs = 15000;
  static constexpr uint64_t kNopIntervalMs = 30000;
  // Largest write EDTL accepted (bytes); larger writes fail with CHECK CONDITION.
  static constexpr uint32_t kMaxWriteLength = 64u << 20;

  // Takes ownership of fd (a connected, nonblocking TCP socket).
  Connection(ConnectionHost* host, env::EventLoop* loop, int fd, uint16_t tpgt);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Registers the socket with the loop and arms the login timer. REQUIRES: loop thread, the
  // connection is held by a shared_ptr.
  void Start();
  // Closes the socket at once. Commands still in the core finish in the background and are
  // discarded; then the session ends and the host is told (ConnectionFinished).
  void Close(const char* why);
  // Sends an Async Message asking the initiator to log out within `seconds`
  // (RFC 7143 11.9.1, AsyncEvent 1). No-op outside full feature phase.
  void RequestLogout(uint16_t seconds);

  bool closed() const { return closed_; }
  bool full_feature() const { return phase_ == Phase::kFullFeature; }
  uint32_t commands_in_core() const { return in_core_; }
  const std::shared_ptr<Session>& session() const { return session_; }
  // "cid 0 127.0.0.1:51234 -> 127.0.0.1:3260"
  std::string Describe() const;

  // env::EventHandler
  void OnEvents(uint32_t events) override;
  // scsi::CommandOwner
  env::EventLoop* loop() const override { return loop_; }
  void CommandDone(scsi::Command* cmd) override;
  // LoginEnvironment
  std::shared_ptr<core::Target> FindTarget(const std::string& name) override;
  const TargetLimits& limits() override;
  const sockaddr* peer_address() override { return reinterpret_cast<const sockaddr*>(&peer_); }
  const sockaddr* local_address() override { return reinterpret_cast<const sockaddr*>(&local_); }
  uint16_t portal_group_tag() override { return tpgt_; }
  LoginStatus PrepareSession(const Login& login, uint16_t* tsih) override;

 private:
  enum class Phase : uint8_t { kLogin, kFullFeature, kLogout };
  enum class RxState : uint8_t { kHeader, kData };
  enum class TaskState : uint8_t { kFree, kHeld, kCollecting, kInCore, kSending };

  struct R2t {
    bool used = false;
    uint32_t ttt = 0;
    uint32_t offset = 0;
    uint32_t length = 0;
    uint32_t received = 0;
    uint32_t exp_data_sn = 0;
  };

  struct Task : scsi::Command {
    uint32_t index = 0;
    TaskState state = TaskState::kFree;
    Task* next_free = nullptr;
    uint32_t itt = 0;
    uint32_t cmd_sn = 0;
    uint32_t edtl = 0;
    uint64_t lun_raw = 0;
    bool immediate = false;
    bool counted = false;     // holds a CmdSN window slot
    bool read = false;
    bool write = false;
    bool delivered = false;   // reached in CmdSN order
    bool tmf_aborted = false; // aborted by task management: no response
    bool fail_early = false;  // answered without the core (sense already set)
    bool data_error = false;  // a Data-Out sequence error: fail once the sequences close
    int tmf_slot = -1;
    // Data-Out collection (writes)
    uint32_t received = 0;
    uint32_t unsol_end = 0;   // immediate + unsolicited data end offset
    uint32_t unsol_next = 0;
    uint32_t unsol_data_sn = 0;
    bool unsol_open = false;  // unsolicited Data-Out still expected (no F yet)
    uint32_t next_r2t_offset = 0;
    uint32_t r2t_sn = 0;
    uint32_t r2t_outstanding = 0;
    R2t r2ts[kMaxR2tPerTask];
    // Data-In
    uint32_t data_sn = 0;
  };

  struct TxItem {
    const uint8_t* ext = nullptr;  // null: staged at stage_[off]
    uint32_t off = 0;
    uint32_t len = 0;
    Task* release = nullptr;       // returned to the pool once written
  };

  struct PendingTmf {
    bool used = false;
    uint32_t itt = 0;
    uint8_t response = 0;
    uint32_t waiting = 0;
  };

  struct FlushCompletion : env::Completion {
    Connection* conn = nullptr;
  };

  // ---- receive ----
  void OnReadable();
  void ParseBuffered();
  bool HeaderComplete();   // false: connection closed or PDU consumed with no data phase
  void DataComplete();
  void BeginData(uint8_t* dest, uint32_t len);
  void DispatchPdu(bool data_digest_ok);
  void Pause();
  void Resume();
  // ---- login ----
  void HandleLogin();
  void EnterFullFeature();
  // ---- full feature phase ----
  bool BeginScsiCommand();
  void FinishScsiCommand(bool data_digest_ok);
  uint8_t* BeginDataOut();
  void CheckDataDone(Task* t);
  void FinishDataOut(bool data_digest_ok);
  void HandleNopOut();
  void HandleText();
  void HandleLogout();
  void HandleTmf();
  void SendTextChunk(uint32_t itt);
  void Deliver(Task* t);
  void DrainHeld();
  void SendR2ts(Task* t);
  void SubmitTask(Task* t);
  void SendCommandResponse(Task* t);
  void SendScsiResponse(Task* t, const Residual& r, bool residual_valid);
  void AdvanceCmdSn(uint32_t cmd_sn, bool immediate);
  // ---- tasks ----
  void AllocatePool();
  Task* AllocTask();
  void ReleaseTask(Task* t);
  void ReleaseSlot(Task* t);
  Task* FindTask(uint32_t itt);
  Task* FindTaskByTtt(uint32_t ttt, R2t** r2t);
  void IttInsert(uint32_t itt, uint32_t index);
  void IttErase(uint32_t itt);
  void AbortTask(Task* t, int tmf_slot);
  void TmfTaskDone(Task* t);
  void SendTmfResponse(uint32_t itt, uint8_t response);
  // ---- transmit ----
  size_t StageReserve(size_t n);
  void PushItem(const TxItem& item);
  // Builds the header digest (if negotiated) after the BHS at stage_[off].
  void QueuePdu(const Bhs& bhs, const uint8_t* data, uint32_t len, bool copy, Task* release);
  void FillSeq(Bhs* bhs, bool advance_stat_sn);
  void SendReject(RejectReason reason, const uint8_t* bhs);
  void ScheduleFlush();
  void Flush();
  void SetWantWrite(bool on);
  void MaybeFinish();
  void ArmNopTimer();

  ConnectionHost* const host_;
  env::EventLoop* const loop_;
  int fd_;
  const uint16_t tpgt_;
  sockaddr_storage peer_{};
  sockaddr_storage local_{};

  Phase phase_ = Phase::kLogin;
  bool closed_ = false;
  bool finished_ = false;
  bool started_ = false;
  bool in_events_ = false;
  bool paused_ = false;         // no free task: stop parsing
  bool rx_stopped_ = false;     // after logout / failed login: ignore further input
  bool close_after_flush_ = false;
  bool want_write_ = false;
  bool flush_posted_ = false;
  bool parse_pending_ = false;  // resumed: parse the receive buffer from the loop
  FlushCompletion flush_completion_;

  // Negotiated
  ConnectionParams conn_params_;
  std::shared_ptr<Session> session_;
  bool header_digest_ = false;
  bool data_digest_ = false;
  uint32_t max_recv_ = 8192;
  uint32_t max_xmit_ = 8192;
  uint32_t max_burst_ = 262144;
  uint32_t first_burst_ = 65536;
  uint32_t max_r2t_ = 1;
  bool immediate_data_ = true;
  bool initial_r2t_ = true;
  uint16_t cid_ = 0;

  // Login
  std::unique_ptr<Login> login_;
  bool login_started_ = false;
  uint32_t login_cmd_sn_ = 0;
  uint64_t login_timer_ = 0;

  // Sequence numbers
  uint32_t stat_sn_ = 0;
  uint32_t exp_stat_sn_ = 0;

  // Receive
  RxState rx_state_ = RxState::kHeader;
  std::unique_ptr<uint8_t[]> rbuf_;
  size_t rcap_ = 0;
  size_t rhead_ = 0;
  size_t rtail_ = 0;
  uint8_t hdr_[kBhsLength + 255 * 4 + kDigestLength] = {};
  size_t hdr_len_ = 0;
  uint8_t* data_dest_ = nullptr;
  uint32_t data_len_ = 0;
  uint32_t data_got_ = 0;
  uint8_t trailer_[8] = {};
  uint32_t trailer_len_ = 0;
  uint32_t trailer_got_ = 0;
  std::vector<uint8_t> ctrl_data_;  // data segment of control PDUs (and discarded data)
  Task* cur_task_ = nullptr;        // the SCSI Command / Data-Out being received
  R2t* cur_r2t_ = nullptr;
  bool cur_discard_ = false;

  // Tasks
  std::vector<std::unique_ptr<Task>> pool_;
  Task* free_ = nullptr;
  uint32_t in_core_ = 0;
  std::vector<Task*> held_;
  std::vector<uint16_t> itt_slots_;  // open addressing: task index + 1, 0 = empty
  uint32_t ttt_gen_ = 1;
  std::vector<PendingTmf> tmfs_;

  // Text continuation (RFC 7143 11.10: C bit / TTT)
  std::vector<uint8_t> text_out_;
  size_t text_out_pos_ = 0;
  uint32_t text_ttt_ = 0xffffffffu;
  std::vector<uint8_t> text_in_;

  // Transmit
  std::vector<uint8_t> stage_;
  std::vector<TxItem> txq_;  // ring
  size_t tx_head_ = 0;
  size_t tx_count_ = 0;
  size_t tx_head_written_ = 0;

  // Keepalive
  uint64_t nop_timer_ = 0;
  uint64_t last_rx_ms_ = 0;
  bool nop_outstanding_ = false;
  uint32_t nop_ttt_ = 0;
};

}  // namespace modtgt::iscsi
