// SPDX-License-Identifier: Apache-2.0
// Device: a scsi::Backend over one opened backing-store module device (one LUN), and
// LoadedModule, the record of one dlopen'ed module shared by the registry and the devices
// opened on it (module_registry.cc creates both; nothing else should).
//
// The handles a module sees are daemon objects cast to the opaque ABI types:
//   modtgt_dev*  -> the `modtgt_dev` struct defined below (one per Device, inside it);
//   modtgt_io*   -> a Device::IoSlot (one per in-flight I/O, pooled per device);
//   modtgt_cmd*  -> the same IoSlot (handle_cmd); the host's cmd_* services reach the
//                   scsi::Command through it.
// The slot, not the Command, is handed out so that the host's complete() finds its Device
// without touching Command fields the core owns, and so that the worker-queue link (the
// slot's own env::Completion) never shares `next`/`run` with the Completion base of the
// Command, which scsi::IoDone uses to post the command back to its loop.
//
// Threading: thread-safe. Submit() is called on command-owning loops (any number at once);
// callouts run inline on that loop (nr_threads == 0) or on the device's own WorkQueue
// (nr_threads > 0); completions arrive from any thread. The destructor waits for every
// in-flight I/O, stops the queue and calls the module's close(); it must not run on a
// loop thread that still has to process one of this device's completions.
//
// Live reload (DESIGN.md "Modules" rule 6; ModuleRegistry::Reload drives it on the admin
// thread): Hold() makes Submit queue new commands inside the device (the loop is never
// blocked) and waits for in-flight I/O to drain; CloseForReload() stops the worker queue,
// calls close() and drops the module; Reopen() switches to a (new or re-loaded) module and
// calls open(dev, 1); Resume() hands the held commands back to their owning loops, which
// submit them to the module now in place. Fail() instead completes them (and every later
// command) with an error: used only when even the rollback could not reopen the device.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdarg>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/module_registry.h"
#include "env/event_loop.h"
#include "modtgt/module.h"
#include "scsi/backend.h"
#include "scsi/command.h"

namespace modtgt::core {
class Device;
}  // namespace modtgt::core

// The daemon's side of the opaque modtgt_dev handle (global namespace, like the ABI type).
struct modtgt_dev {
  modtgt::core::Device* device = nullptr;
  modtgt_dev_config config{};  // points into the strings below
  std::string cfgstring;
  std::string path;
  std::string bsopts;
  void* priv = nullptr;        // module-owned (host->dev_set_private)
  std::atomic<uint64_t> size{0};  // host->dev_set_size; 0 = not set
  std::string wwn;
};

namespace modtgt::core {

// One loaded module file. Created by ModuleRegistry::LoadFile; shared (shared_ptr) by the
// registry and by every Device opened on it, so the code stays mapped until the last
// Device is gone even if the registry drops it first. The destructor calls unload() (when
// load() had succeeded) and dlclose().
struct LoadedModule {
  LoadedModule() = default;
  ~LoadedModule();
  LoadedModule(const LoadedModule&) = delete;
  LoadedModule& operator=(const LoadedModule&) = delete;

  // Immutable after registration.
  std::string path;         // as opened (canonical when realpath() succeeded)
  std::string file_name;    // "bs_rdwr.so"
  std::string name;         // descriptor name
  std::string subtype;      // descriptor subtype, or name
  std::string log_prefix;   // "rdwr: "
  void* handle = nullptr;   // dlopen handle
  // The opened file, kept open so that a failed reload can roll back to exactly this code
  // even after the path was replaced on disk (dlopen of /proc/self/fd/N). -1 if unknown.
  int fd = -1;
  dev_t file_dev = 0;       // st_dev/st_ino of fd
  ino_t file_ino = 0;
  modtgt_backing_store desc{};  // min(sizeof, struct_size) bytes copied, rest zero

  // Serialises the module's lifecycle callbacks (load, check_config, open, close): the
  // ABI promises a module never sees two of them at once.
  std::mutex call_mu;

  // State, error text and users. GUARDED_BY(mu)
  mutable std::mutex mu;
  ModuleState state = ModuleState::kLoading;
  std::string error;
  bool load_succeeded = false;  // unload() is owed at destruction
  std::map<const void*, std::string> users;  // Device* -> "tid 1 lun 1"
  std::vector<Device*> devices;              // open devices (same keys as users)

  ModuleState GetState(std::string* error_out) const;
  void AddUser(const void* key, const std::string& user);
  void RemoveUser(const void* key);
  std::vector<std::string> UserList() const;
  // The devices opened on this module (registered by Device::Open/Reopen).
  std::vector<Device*> DeviceList() const;
};

// Held by ModuleRegistry::Reload for its whole run and by ~Device before it touches
// anything: a device whose LUN was deleted (destroyed on a loop when its last command ends)
// cannot vanish under a reload; its destruction waits for the reload to finish.
std::mutex& DeviceLifecycleMutex();

// Fills dev->config (and the strings it points to) from the admin's config. `subtype` is
// the module's: a cfgstring "subtype/rest" yields path "rest"; any other cfgstring is the
// path itself.
void FillDevConfig(const DeviceConfig& cfg, const std::string& subtype, modtgt_dev* dev);

// Makes `module` the one host->log and host->error are attributed to on this thread, and
// clears the thread's error text, for the lifetime of the scope. Nests.
class CalloutScope {
 public:
  explicit CalloutScope(const LoadedModule* module);
  ~CalloutScope();
  CalloutScope(const CalloutScope&) = delete;
  CalloutScope& operator=(const CalloutScope&) = delete;

 private:
  const LoadedModule* prev_;
};
// The reason the module gave with host->error() during the current scope, or `fallback`.
std::string TakeCalloutError(const char* fallback);
// host->error(): records the reason on this thread. host->log() uses CurrentModule() for
// the message prefix (nullptr on a thread that is not in a callout, e.g. a module's own).
void RecordCalloutErrorV(const char* fmt, va_list ap);
const LoadedModule* CurrentModule();
// Maps a module's negative MODTGT_E* return to a Status carrying `message`.
Status ModuleErrorStatus(int rc, std::string message);

class Device : public scsi::Backend {
 public:
  // REQUIRES: module is ready. Does not call the module; Open() does.
  Device(std::shared_ptr<LoadedModule> module, const DeviceConfig& cfg);
  // Waits for in-flight I/O, stops the worker queue, calls close() (if Open succeeded) and
  // removes this device from the module's users.
  ~Device() override;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // Calls the module's open(dev, 0), checks it set a size (unless cfg.size did), starts the
  // worker queue and registers cfg.user. On failure returns the module's reason and
  // leaves nothing open (the module's close() is not called after a failed open()).
  // REQUIRES: called once, before any Submit. Takes module->call_mu.
  Status Open();

  // ---- Live reload (admin thread; see the file comment). ----
  // Queues every later Submit and waits up to `timeout` for the in-flight I/O to complete.
  // DeadlineExceeded (still held: call Resume) when it does not drain in time.
  Status Hold(std::chrono::milliseconds timeout);
  // REQUIRES: held and drained. Stops the worker queue, calls close() and releases the
  // module (it loses this device as a user). Idempotent.
  void CloseForReload();
  // REQUIRES: held and closed. Calls module->open(dev, 1) and restarts the worker queue
  // with the module's nr_threads. On failure the device stays closed.
  Status Reopen(std::shared_ptr<LoadedModule> module);
  // Ends a Hold: held commands go back to their owning loops and are submitted again.
  void Resume();
  // Ends a Hold with the device unusable (closed): held and later commands complete with
  // a medium error. For a device that even the rollback could not reopen.
  void Fail();
  bool held() const;
  // Commands queued by Hold (for tests).
  size_t held_count() const;

  // scsi::Backend. The capabilities follow the module currently open (they may change
  // across a reload), read lock-free.
  uint64_t size_bytes() const override;
  bool has_flush() const override { return Cap(kCapFlush); }
  // UNMAP is advertised exactly when the module has an unmap callout. thin() additionally
  // needs MODTGT_CAP_THIN (the registry refuses THIN without unmap at load).
  bool has_unmap() const override { return Cap(kCapUnmap); }
  bool has_write_same() const override { return Cap(kCapWriteSame); }
  bool has_caw() const override { return Cap(kCapCaw); }
  bool has_handle_cmd() const override { return Cap(kCapHandleCmd); }
  bool thin() const override { return Cap(kCapThin); }
  // get_lba_status (ABI 1.2): the module reports its real allocation.
  bool has_lba_status() const override { return Cap(kCapLbaStatus); }
  // The limits the device declared with host->dev_set_atomic_limits (ABI 1.2), if its
  // module has MODTGT_CAP_ATOMIC_WRITE; none otherwise. Any thread.
  scsi::AtomicLimits atomic_limits() const override;
  // host->dev_set_atomic_limits: records the limits (ignored, with a log line, for a
  // module without MODTGT_CAP_ATOMIC_WRITE or with inconsistent limits).
  void SetAtomicLimitsFromModule(const modtgt_atomic_limits& limits);
  // Runs cmd->io. Ops whose callout is missing complete at once: kFlush with
  // MODTGT_STS_OK (nothing to flush), the others with MODTGT_STS_UNSUPPORTED.
  // kHandleCmd with no iovecs in cmd->io gets cmd->data as its buffer (grown to
  // expected_length for Data-In commands).
  void Submit(scsi::Command* cmd) override;
  // Tells the module (reconfig WRITE_CACHE, when it has reconfig) and updates the config
  // the module sees. Any thread.
  void SetWriteCache(bool enabled) override;
  // Size / config string change through the module's reconfig, with the device held and
  // drained around the call (admin thread). InvalidArgument when the module has no
  // reconfig; Busy when I/O does not drain in 30 s; the module's reason otherwise.
  Status Reconfigure(const scsi::BackendReconfig& rc) override;
  void SetSizeChangedCallback(std::function<void()> cb) override;
  // host->dev_set_size: stores the size; after open, a change calls the size callback.
  void SetSizeFromModule(uint64_t bytes);

  // ---- Cluster lock group (module.h lock/unlock/get_lock_tag/get_lock_state). ----
  // Admin thread or the ALUA thread (scsi/alua.h); serialised with the lifecycle callbacks.
  bool has_lock() const { return desc_.lock != nullptr; }
  // scsi::Backend's lock group (the same calls).
  bool has_lock_group() const override { return has_lock(); }
  int LockAcquire(uint16_t tag) override { return Lock(tag); }
  int LockRelease() override { return Unlock(); }
  int LockHolderTag(uint16_t* tag) override { return GetLockTag(tag); }
  int LockState() override { return GetLockState(); }
  void SetEventCallback(std::function<void(int event)> cb) override;
  // Returns the module's modtgt_status (MODTGT_STS_UNSUPPORTED without a lock group).
  int Lock(uint16_t tag);
  int Unlock();
  int GetLockTag(uint16_t* tag);
  // A modtgt_lock_state; MODTGT_LOCK_UNKNOWN without a lock group.
  int GetLockState();

  // ---- Events (host->dev_report_event). Any thread. ----
  struct EventCounts {
    uint64_t lock_lost = 0;
    uint64_t conn_lost = 0;
    uint64_t conn_restored = 0;
    bool connected = true;     // false between CONN_LOST and CONN_RESTORED
    std::string last;          // "lock lost: <detail>" of the latest event, "" if none
  };
  void ReportEvent(int event, const char* detail);
  EventCounts events() const;

  const std::string& module_name() const { return name_; }
  uint32_t nr_threads() const { return desc_.nr_threads; }
  const std::string& user() const { return user_; }
  // The module currently open (null while closed for a reload or after Fail()).
  std::shared_ptr<LoadedModule> module() const;
  modtgt_dev* dev() { return &dev_; }
  // In-flight I/O count (for tests and drain diagnostics).
  uint32_t inflight() const;

  // One in-flight I/O. modtgt_io* and modtgt_cmd* handed to the module point to one.
  struct IoSlot {
    env::Completion work;  // first member: WorkQueue items are IoSlot*
    Device* device = nullptr;
    scsi::Command* cmd = nullptr;
    uint32_t index = 0;                      // in the device's slot table
    std::atomic<uint32_t> next_free_idx{0};  // the free stack's next (index + 1, 0 = none)
    std::atomic<bool> busy{false};
    iovec data_iov{};      // handle_cmd buffer when the core gave no iovecs
    uint64_t area_bytes = 0;  // counted against the data-area budget
  };
  // max_data_area_mb: the data bytes this device's in-flight I/O may hold at once (0 = no
  // limit). For tests and show.
  uint64_t data_area_budget() const { return area_budget_; }
  uint64_t data_area_waiting() const;
  uint64_t data_area_peak() const;  // the most bytes ever in flight at once

  // host->complete / host->cmd_complete. Any thread.
  static void CompleteFromModule(IoSlot* slot, int status);

  // ---- Storage the host keeps for the LUN (ABI 1.3 host->dev_keep_fd / dev_kept_fd). ----
  // A store whose data lives only in the process (bs_ram's memfd) hands the host an fd;
  // it stays with this Device across a reload (CloseForReload + Reopen) and is shared with
  // the Device a rebuild of the LU opens (InheritKeptStorage), so that neither loses the
  // data. Closed with the last Device holding it (the LUN deleted, or the daemon exiting).
  struct KeptStorage {
    KeptStorage() = default;
    ~KeptStorage();
    KeptStorage(const KeptStorage&) = delete;
    KeptStorage& operator=(const KeptStorage&) = delete;
    mutable std::mutex mu;
    int fd = -1;  // GUARDED_BY(mu)
  };
  // Shares `from`'s kept storage (a rebuilt LU's new device). REQUIRES: before Open().
  void InheritKeptStorage(const Device& from);
  // host->dev_keep_fd: keeps a duplicate of fd (replacing one kept before). 0, or
  // MODTGT_EINVAL for a bad fd.
  int KeepFd(int fd);
  // host->dev_kept_fd: the kept fd, or -1.
  int kept_fd() const;

 private:
  // The slot pool (device_slots.cc): a lock-free stack of slot indices with an ABA tag; it
  // only grows (by chunks, under slots_mu_), so the steady state neither locks nor
  // allocates. AcquireSlot: nullptr only past kMaxSlotChunks chunks.
  IoSlot* AcquireSlot(scsi::Command* cmd);
  IoSlot* PopSlot();
  void PushSlot(IoSlot* s);
  IoSlot* GrowSlots();  // adds a chunk, returns one of its slots (nullptr at the limit)
  IoSlot* SlotAt(uint32_t index) const;
  // Counts an I/O out, waking Hold/the destructor when it was the last one and one of them
  // waits (gated_). REQUIRES: slots_mu_ not held.
  void DecInflight();
  void ReleaseSlot(IoSlot* slot);
  // Whether the module has the callout io.op needs (and honours an atomic write).
  bool HasCallout(const scsi::IoRequest& io) const;
  // Runs or queues a submitted I/O that holds slot s.
  void Dispatch(IoSlot* s);
  // Calls the callout for slot->cmd->io on the current thread; returns its status.
  int Call(IoSlot* slot);
  // Completes slot's I/O with status (sanitised), frees the slot, calls scsi::IoDone.
  void Finish(IoSlot* slot, int status);
  static void RunWork(env::Completion* c);
  // Completes a command without the module (held at Fail, or submitted to a failed device).
  static void FailCommand(scsi::Command* cmd);

  enum : uint32_t {
    kCapFlush = 1, kCapUnmap = 2, kCapWriteSame = 4, kCapCaw = 8, kCapHandleCmd = 16,
    kCapThin = 32, kCapLbaStatus = 64, kCapAtomic = 128,
  };
  bool Cap(uint32_t bit) const { return (caps_.load(std::memory_order_relaxed) & bit) != 0; }
  void SetCaps();
  // Opens dev_ on module_ (open(dev, reopen)), checks the size, starts the worker queue,
  // registers the user. REQUIRES: closed; module_/desc_ set.
  Status OpenOnModule(int reopen);

  // module_ and desc_ change only while the device is held, drained and closed (reload),
  // and are read by the I/O path only with an I/O in flight; Hold/Resume publish them
  // through slots_mu_.
  std::shared_ptr<LoadedModule> module_;
  modtgt_backing_store desc_;  // copy of module_->desc
  const std::string name_;     // module name (the same across reloads)
  const std::string user_;
  modtgt_dev dev_;
  bool opened_ = false;
  std::atomic<uint32_t> caps_{0};
  std::unique_ptr<env::WorkQueue> pool_;  // nr_threads > 0 only
  std::string thread_name_;

  void NotifySizeChanged();
  // Calls a lock-group callout fn(&dev_, args...) serialised with the lifecycle callbacks
  // (module->call_mu), or returns `missing` when the device is closed or fn is NULL.
  template <typename Fn, typename... Args>
  int CallLockGroup(Fn fn, int missing, Args... args) {
    std::shared_ptr<LoadedModule> m = module();
    if (m == nullptr || fn == nullptr) return missing;
    std::lock_guard<std::mutex> g(m->call_mu);
    CalloutScope scope(m.get());
    return fn(&dev_, args...);
  }
  // host->dev_set_atomic_limits; cleared before every open() (a reopened module declares
  // them again). Read lock-free by the SCSI layer.
  std::atomic<uint32_t> atomic_max_{0};
  std::atomic<uint32_t> atomic_align_{0};
  std::atomic<uint32_t> atomic_gran_{0};
  std::atomic<bool> size_published_{false};  // open() done: size changes are news
  std::atomic<uint64_t> size_sets_{0};       // host->dev_set_size calls
  mutable std::mutex cb_mu_;
  std::function<void()> size_changed_cb_;  // GUARDED_BY(cb_mu_)
  std::function<void(int)> event_cb_;      // GUARDED_BY(cb_mu_)
  mutable std::mutex events_mu_;
  EventCounts events_;                     // GUARDED_BY(events_mu_)

  mutable std::mutex slots_mu_;
  std::condition_variable drained_cv_;
  static constexpr uint32_t kSlotChunk = 32;
  static constexpr uint32_t kMaxSlotChunks = 1024;     // 32768 I/Os in flight per device
  std::vector<std::unique_ptr<IoSlot[]>> slot_chunks_;  // GUARDED_BY(slots_mu_)
  std::atomic<IoSlot*> chunk_table_[kMaxSlotChunks] = {};  // published chunks
  std::atomic<uint64_t> free_head_{0};  // tag << 32 | (top index + 1); 0 in the low half: empty
  // Submit's fast path (no hold, no failure, no data-area budget) takes no lock: it counts
  // the I/O in inflight_ and then checks gated_ (both seq_cst), while Hold and Fail set
  // gated_ and then check inflight_, so one of them sees the other.
  std::atomic<uint32_t> inflight_{0};
  std::atomic<bool> gated_{false};  // held_ || failed_
  std::atomic<uint32_t> releasers_{0};  // threads inside DecInflight (the destructor waits)
  bool held_ = false;                                   // GUARDED_BY(slots_mu_)
  bool failed_ = false;                                 // GUARDED_BY(slots_mu_)
  std::deque<scsi::Command*> held_cmds_;                // GUARDED_BY(slots_mu_)
  // --control max_data_area_mb (tcmu-runner's data area): commands whose data would take
  // the in-flight bytes past the budget wait here (not in flight; a command always runs
  // when nothing else is in flight) and are submitted again, oldest first, as I/O
  // completes. Only SIMPLE-task reordering can result, which SAM-5 8.6 allows; dispatch has
  // already enforced ORDERED/HEAD OF QUEUE before the backend.
  const uint64_t area_budget_;
  std::shared_ptr<KeptStorage> kept_ = std::make_shared<KeptStorage>();
  uint64_t area_inflight_ = 0;                          // GUARDED_BY(slots_mu_)
  uint64_t area_peak_ = 0;                              // GUARDED_BY(slots_mu_)
  std::deque<scsi::Command*> area_wait_;                // GUARDED_BY(slots_mu_)
};

}  // namespace modtgt::core
