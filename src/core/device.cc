// SPDX-License-Identifier: Apache-2.0
#include "core/device.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <thread>
#include <utility>

#include "common/log.h"

namespace modtgt::core {
namespace {

// The module the current thread is calling into, and the reason it gave with
// host->error(). Thread-local: modules call host->error() on the thread that runs the
// failing callback, and the daemon reads it right after the callback returns.
thread_local const LoadedModule* t_current = nullptr;
thread_local char t_error[1024];
thread_local bool t_error_set = false;

constexpr uint32_t kMaxBadStatusLogs = 10;

// `abi_minor`: the minor ABI version the module was built for (what it may know of).
bool ValidStatus(scsi::IoOp op, int st, uint32_t abi_minor) {
  if (st == MODTGT_STS_NOT_LOCK_OWNER) return true;  // 1.4: any callout
  // 1.6: a read (or handle_cmd) whose range reads as zeros; scsi::IoDone fills or flags it.
  // From an older module it is an unknown value: invalid, as it always was.
  if (st == MODTGT_STS_ZEROS) {
    return abi_minor >= 6 && (op == scsi::IoOp::kRead || op == scsi::IoOp::kHandleCmd);
  }
  // 1.3: a thin store out of space answers a write-type callout with SPACE_EXHAUSTED.
  if (st == MODTGT_STS_SPACE_EXHAUSTED) {
    return op == scsi::IoOp::kWrite || op == scsi::IoOp::kWriteSame ||
           op == scsi::IoOp::kCaw || op == scsi::IoOp::kHandleCmd;
  }
  if (op == scsi::IoOp::kHandleCmd) return st >= MODTGT_STS_OK && st <= MODTGT_STS_SENSE_SET;
  return st >= MODTGT_STS_OK && st <= MODTGT_STS_UNSUPPORTED;
}

// scsi::LbaExtent is filled by get_lba_status through a modtgt_lba_status pointer.
static_assert(sizeof(scsi::LbaExtent) == sizeof(modtgt_lba_status));
static_assert(offsetof(scsi::LbaExtent, length) == offsetof(modtgt_lba_status, length));
static_assert(offsetof(scsi::LbaExtent, state) == offsetof(modtgt_lba_status, state));

}  // namespace

// ---------------------------------------------------------------------------------------
// LoadedModule

LoadedModule::~LoadedModule() {
  if (load_succeeded && desc.unload) {
    std::lock_guard<std::mutex> g(call_mu);
    CalloutScope scope(this);
    desc.unload();
  }
  if (handle) dlclose(handle);
  if (fd >= 0) close(fd);
}

ModuleState LoadedModule::GetState(std::string* error_out) const {
  std::lock_guard<std::mutex> l(mu);
  if (error_out) *error_out = error;
  return state;
}

void LoadedModule::AddUser(const void* key, const std::string& user) {
  std::lock_guard<std::mutex> l(mu);
  users[key] = user;
}

void LoadedModule::RemoveUser(const void* key) {
  std::lock_guard<std::mutex> l(mu);
  users.erase(key);
  devices.erase(std::remove(devices.begin(), devices.end(), key), devices.end());
}

std::vector<Device*> LoadedModule::DeviceList() const {
  std::lock_guard<std::mutex> l(mu);
  return devices;
}

std::vector<std::string> LoadedModule::UserList() const {
  std::lock_guard<std::mutex> l(mu);
  std::vector<std::string> out;
  out.reserve(users.size());
  for (const auto& [key, user] : users) out.push_back(user.empty() ? "(unnamed device)" : user);
  return out;
}

// ---------------------------------------------------------------------------------------
// Callout context

CalloutScope::CalloutScope(const LoadedModule* module) : prev_(t_current) {
  t_current = module;
  t_error_set = false;
}

CalloutScope::~CalloutScope() { t_current = prev_; }

std::string TakeCalloutError(const char* fallback) {
  if (!t_error_set) return fallback;
  t_error_set = false;
  return t_error;
}

void RecordCalloutErrorV(const char* fmt, va_list ap) {
  if (fmt == nullptr) fmt = "(null)";
  int n = std::vsnprintf(t_error, sizeof(t_error), fmt, ap);
  if (n < 0) std::snprintf(t_error, sizeof(t_error), "(unformattable error message)");
  // Trailing newlines would end up in the middle of our own messages.
  size_t len = std::strlen(t_error);
  while (len > 0 && (t_error[len - 1] == '\n' || t_error[len - 1] == '\r')) t_error[--len] = 0;
  t_error_set = true;
}

const LoadedModule* CurrentModule() { return t_current; }

Status ModuleErrorStatus(int rc, std::string message) {
  switch (rc) {
    case MODTGT_ENOENT:
      return Status::NotFound(std::move(message));
    case MODTGT_EACCES:
      return Status::PermissionDenied(std::move(message));
    case MODTGT_EBUSY:
      return Status::Busy(std::move(message));
    case MODTGT_EIO:
      return Status::IoError(std::move(message));
    case MODTGT_EINVAL:
    case MODTGT_ENOTSUP:
      return Status::InvalidArgument(std::move(message));
    default:  // ENOMEM, EINTERNAL, or a value outside the ABI
      return Status::Internal(std::move(message));
  }
}

void FillDevConfig(const DeviceConfig& cfg, const std::string& subtype, modtgt_dev* dev) {
  dev->cfgstring = cfg.cfgstring;
  const std::string prefix = subtype + "/";
  if (!subtype.empty() && dev->cfgstring.compare(0, prefix.size(), prefix) == 0) {
    dev->path = dev->cfgstring.substr(prefix.size());
  } else {
    dev->path = dev->cfgstring;
  }
  dev->bsopts = cfg.bsopts;
  modtgt_dev_config& c = dev->config;
  c = modtgt_dev_config{};
  c.struct_size = sizeof(modtgt_dev_config);
  c.block_size = cfg.block_size;
  c.cfgstring = dev->cfgstring.c_str();
  c.path = dev->path.c_str();
  c.bsopts = dev->bsopts.c_str();
  c.oflags = cfg.oflags;
  c.readonly = cfg.readonly ? 1 : 0;
  c.size = cfg.size;
  c.write_cache = cfg.write_cache ? 1 : 0;
  dev->wwn = cfg.wwn;
  c.hw_max_sectors = cfg.hw_max_sectors;
  c.max_data_area_mb = cfg.max_data_area_mb;
  c.wwn = dev->wwn.c_str();
}

// ---------------------------------------------------------------------------------------
// Device

Device::Device(std::shared_ptr<LoadedModule> module, const DeviceConfig& cfg)
    : module_(std::move(module)),
      desc_(module_->desc),
      name_(module_->name),
      user_(cfg.user),
      area_budget_(static_cast<uint64_t>(cfg.max_data_area_mb) << 20) {
  SetCaps();
  dev_.device = this;
  FillDevConfig(cfg, module_->subtype, &dev_);
  thread_name_ = "bs_" + module_->name;
  // One chunk up front: the first I/Os do not allocate.
  PushSlot(GrowSlots());
}

std::mutex& DeviceLifecycleMutex() {
  static std::mutex mu;
  return mu;
}

Device::~Device() {
  std::lock_guard<std::mutex> lifecycle(DeviceLifecycleMutex());
  std::deque<scsi::Command*> held;
  {
    std::unique_lock<std::mutex> l(slots_mu_);
    held.swap(held_cmds_);
    held_ = false;
    failed_ = true;
    gated_.store(true);
  }
  for (scsi::Command* c : held) FailCommand(c);  // a hold never outlives its reload; defensive
  {
    std::unique_lock<std::mutex> l(slots_mu_);
    // A command is never freed while the module may still touch it: wait, however long.
    while (!drained_cv_.wait_for(l, std::chrono::seconds(10), [this] { return inflight_ == 0; })) {
      LOG_WARN("%s: closing '%s' is waiting for %u I/O(s) the module has not completed",
               name_.c_str(), dev_.cfgstring.c_str(), inflight_.load());
    }
  }
  // The thread that counted the last I/O out may still be reading this (DecInflight).
  while (releasers_.load() != 0) std::this_thread::yield();
  CloseForReload();
}

void Device::SetCaps() {
  uint32_t c = 0;
  if (desc_.flush) c |= kCapFlush;
  if (desc_.unmap) c |= kCapUnmap;
  if (desc_.write_same) c |= kCapWriteSame;
  if (desc_.caw) c |= kCapCaw;
  if (desc_.handle_cmd) c |= kCapHandleCmd;
  if ((desc_.caps & MODTGT_CAP_THIN) && desc_.unmap) c |= kCapThin;
  if (desc_.get_lba_status) c |= kCapLbaStatus;
  if (desc_.caps & MODTGT_CAP_ATOMIC_WRITE) c |= kCapAtomic;
  caps_.store(c, std::memory_order_relaxed);
}

Status Device::Open() { return OpenOnModule(0); }

Status Device::OpenOnModule(int reopen) {
  int rc;
  std::string reason;
  atomic_max_.store(0);  // the module declares them again in open()
  atomic_align_.store(0);
  atomic_gran_.store(0);
  {
    std::lock_guard<std::mutex> g(module_->call_mu);
    CalloutScope scope(module_.get());
    rc = desc_.open(&dev_, reopen);
    if (rc != 0) reason = TakeCalloutError("the module gave no reason");
  }
  if (rc != 0) {
    return ModuleErrorStatus(rc, "backing store '" + name_ + "' cannot " +
                                     (reopen ? "reopen '" : "open '") + dev_.cfgstring +
                                     "': " + reason);
  }
  opened_ = true;  // from here on, CloseForReload/the destructor call close()
  if (dev_.size.load() == 0) {
    if (dev_.config.size == 0) {
      CloseForReload();
      return Status::Internal("backing store '" + name_ + "' opened '" + dev_.cfgstring +
                              "' but did not set its size (host->dev_set_size)");
    }
    dev_.size.store(dev_.config.size);
  }
  size_published_.store(true);
  if (desc_.nr_threads > 0) {
    pool_ = std::make_unique<env::WorkQueue>();
    pool_->Start(static_cast<int>(desc_.nr_threads), thread_name_.c_str());
  }
  {
    std::lock_guard<std::mutex> l(module_->mu);
    module_->users[this] = user_;
    module_->devices.push_back(this);
  }
  return Status::OK();
}

std::shared_ptr<LoadedModule> Device::module() const {
  std::lock_guard<std::mutex> l(slots_mu_);
  return module_;
}

Status Device::Hold(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(slots_mu_);
  held_ = true;
  gated_.store(true);  // before inflight_ is read (seq_cst): see device.h
  if (!drained_cv_.wait_for(l, timeout, [this] { return inflight_ == 0; })) {
    return Status::Busy("device '" + dev_.cfgstring + "' (" + user_ + ") still has " +
                        std::to_string(inflight_.load()) + " I/O(s) in flight after " +
                        std::to_string(timeout.count()) + " ms");
  }
  return Status::OK();
}

void Device::CloseForReload() {
  if (pool_) {
    pool_->Stop();
    pool_.reset();
  }
  if (module_ == nullptr) return;
  if (opened_) {
    std::lock_guard<std::mutex> g(module_->call_mu);
    CalloutScope scope(module_.get());
    desc_.close(&dev_);
    opened_ = false;
  }
  module_->RemoveUser(this);
  std::lock_guard<std::mutex> l(slots_mu_);  // module() readers
  module_.reset();
}

Status Device::Reopen(std::shared_ptr<LoadedModule> module) {
  if (module_ != nullptr || opened_) {
    return Status::Internal("device '" + dev_.cfgstring + "' reopened while still open");
  }
  // A module older than 1.3 would not look for the kept storage: it would open the LUN
  // empty, and its data would be gone without a word.
  if (kept_fd() >= 0 && MODTGT_ABI_MINOR_OF(module->desc.abi_version) < 3) {
    return Status::ModuleError(
        user_ + " keeps its data in storage the daemon holds (ABI 1.3), and module file " +
        module->path + " is built for ABI " +
        std::to_string(MODTGT_ABI_MAJOR_OF(module->desc.abi_version)) + "." +
        std::to_string(MODTGT_ABI_MINOR_OF(module->desc.abi_version)) +
        ": it would reopen the LUN empty");
  }
  {
    std::lock_guard<std::mutex> l(slots_mu_);
    module_ = std::move(module);
  }
  desc_ = module_->desc;
  // The size stays as it is: the core checks every command's range against size_bytes()
  // on the loops, held or not. The module normally sets it again in open().
  const uint64_t old_size = dev_.size.load();
  dev_.priv = nullptr;
  Status s = OpenOnModule(1);
  if (!s.ok()) {
    dev_.size.store(old_size);
    std::lock_guard<std::mutex> l(slots_mu_);
    module_.reset();
    return s;
  }
  if (dev_.size.load() != old_size) {
    LOG_WARN("%s: '%s' changed size across the reload (%llu -> %llu bytes)", name_.c_str(),
             dev_.cfgstring.c_str(), static_cast<unsigned long long>(old_size),
             static_cast<unsigned long long>(dev_.size.load()));
    NotifySizeChanged();
  }
  SetCaps();
  return Status::OK();
}

void Device::Resume() {
  std::deque<scsi::Command*> cmds;
  {
    std::lock_guard<std::mutex> l(slots_mu_);
    held_ = false;
    gated_.store(failed_);
    cmds.swap(held_cmds_);
  }
  // Back to each command's owning loop: Submit's contract (callouts with nr_threads == 0
  // run there, and only that loop may resize the command's buffer).
  for (scsi::Command* c : cmds) {
    env::EventLoop* loop = c->owner ? c->owner->loop() : nullptr;
    if (loop == nullptr || loop->InLoopThread()) {
      Submit(c);
    } else {
      loop->Post([this, c] { Submit(c); });
    }
  }
}

void Device::Fail() {
  std::deque<scsi::Command*> cmds;
  {
    std::lock_guard<std::mutex> l(slots_mu_);
    held_ = false;
    failed_ = true;
    gated_.store(true);
    cmds.swap(held_cmds_);
  }
  for (scsi::Command* c : cmds) FailCommand(c);
}

bool Device::held() const {
  std::lock_guard<std::mutex> l(slots_mu_);
  return held_;
}

size_t Device::held_count() const {
  std::lock_guard<std::mutex> l(slots_mu_);
  return held_cmds_.size();
}

void Device::FailCommand(scsi::Command* cmd) {
  scsi::IoDone(cmd, cmd->io.op == scsi::IoOp::kRead ? MODTGT_STS_READ_ERROR
                                                    : MODTGT_STS_WRITE_ERROR);
}

uint64_t Device::size_bytes() const { return dev_.size.load(std::memory_order_relaxed); }

void Device::SetWriteCache(bool enabled) {
  std::atomic_ref<uint32_t>(dev_.config.write_cache).store(enabled ? 1 : 0, std::memory_order_relaxed);
  // Counted like an I/O so that a reload (Hold) waits for the call and desc_/module_ stay
  // as read here; during a hold the module is told at reopen through its config instead.
  decltype(desc_.reconfig) fn = nullptr;
  std::shared_ptr<LoadedModule> m;
  {
    std::lock_guard<std::mutex> l(slots_mu_);
    if (held_ || failed_ || module_ == nullptr || desc_.reconfig == nullptr) return;
    fn = desc_.reconfig;
    m = module_;
    ++inflight_;
  }
  modtgt_reconfig rc{};
  rc.struct_size = sizeof(rc);
  rc.what = MODTGT_RECONFIG_WRITE_CACHE;
  rc.write_cache = enabled ? 1 : 0;
  int r;
  std::string reason;
  {
    CalloutScope scope(m.get());
    r = fn(&dev_, &rc);
    if (r != 0) reason = TakeCalloutError("the module gave no reason");
  }
  if (r != 0) {
    // WCE stays as the initiator set it (MODE SELECT already succeeded); a module that
    // cannot follow keeps writing through, which is always safe.
    LOG_WARN("%s: '%s' refused write cache %s: %s", name_.c_str(), dev_.cfgstring.c_str(),
             enabled ? "on" : "off", reason.c_str());
  }
  std::lock_guard<std::mutex> l(slots_mu_);
  if (--inflight_ == 0) drained_cv_.notify_all();
}

Status Device::Reconfigure(const scsi::BackendReconfig& req) {
  if (!req.size && !req.cfgstring) return Status::OK();
  if (desc_.reconfig == nullptr) {
    return Status::InvalidArgument("backing store '" + name_ + "' cannot change the " +
                                   (req.size ? "size" : "config string") +
                                   " of a live device (the module has no reconfig)");
  }
  if (req.size && *req.size % dev_.config.block_size != 0) {
    return Status::InvalidArgument("size " + std::to_string(*req.size) +
                                   " is not a multiple of the block size " +
                                   std::to_string(dev_.config.block_size));
  }
  Status s = Hold(std::chrono::seconds(30));
  if (!s.ok()) {
    Resume();
    return s;
  }
  std::shared_ptr<LoadedModule> m = module();
  if (m == nullptr || !opened_) {
    Resume();
    return Status::Unavailable("backing store '" + name_ + "' device '" + dev_.cfgstring +
                               "' is not open");
  }
  std::string new_cfg, new_path;
  modtgt_reconfig rc{};
  rc.struct_size = sizeof(rc);
  if (req.size) {
    rc.what |= MODTGT_RECONFIG_SIZE;
    rc.size = *req.size;
  }
  if (req.cfgstring) {
    DeviceConfig tmp;
    tmp.cfgstring = *req.cfgstring;
    modtgt_dev scratch;
    FillDevConfig(tmp, m->subtype, &scratch);
    new_cfg = scratch.cfgstring;
    new_path = scratch.path;
    rc.what |= MODTGT_RECONFIG_CFGSTRING;
    rc.cfgstring = new_cfg.c_str();
    rc.path = new_path.c_str();
  }
  const uint64_t sets_before = size_sets_.load();
  int r;
  std::string reason;
  {
    std::lock_guard<std::mutex> g(m->call_mu);
    CalloutScope scope(m.get());
    r = desc_.reconfig(&dev_, &rc);
    if (r != 0) reason = TakeCalloutError("the module gave no reason");
  }
  if (r != 0) {
    Resume();
    return ModuleErrorStatus(r, "backing store '" + name_ + "' refused to change '" +
                                    dev_.cfgstring + "': " + reason);
  }
  if (req.cfgstring) {
    dev_.cfgstring = new_cfg;
    dev_.path = new_path;
    dev_.config.cfgstring = dev_.cfgstring.c_str();
    dev_.config.path = dev_.path.c_str();
  }
  if (req.size) {
    dev_.config.size = *req.size;
    if (size_sets_.load() == sets_before) SetSizeFromModule(*req.size);
  }
  Resume();
  return Status::OK();
}

void Device::SetSizeChangedCallback(std::function<void()> cb) {
  std::lock_guard<std::mutex> l(cb_mu_);
  size_changed_cb_ = std::move(cb);
}

void Device::SetSizeFromModule(uint64_t bytes) {
  size_sets_.fetch_add(1);
  const uint64_t old = dev_.size.exchange(bytes);
  if (old != bytes && size_published_.load()) {
    LOG_INFO("%s: '%s' is now %llu bytes (was %llu)", name_.c_str(), dev_.cfgstring.c_str(),
             static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(old));
    NotifySizeChanged();
  }
}

scsi::AtomicLimits Device::atomic_limits() const {
  scsi::AtomicLimits l;
  if (!Cap(kCapAtomic)) return l;
  l.max_bytes = atomic_max_.load(std::memory_order_relaxed);
  l.align_bytes = atomic_align_.load(std::memory_order_relaxed);
  l.granularity_bytes = atomic_gran_.load(std::memory_order_relaxed);
  return l;
}

void Device::SetAtomicLimitsFromModule(const modtgt_atomic_limits& lim) {
  if (!(desc_.caps & MODTGT_CAP_ATOMIC_WRITE)) {
    LOG_ERROR("%s: '%s' declared atomic write limits without MODTGT_CAP_ATOMIC_WRITE; "
              "ignored (no atomic writes are advertised)", name_.c_str(), dev_.cfgstring.c_str());
    return;
  }
  const uint32_t align = lim.align_bytes, gran = lim.granularity_bytes;
  if (lim.max_bytes != 0 &&
      ((gran != 0 && lim.max_bytes < gran) || (align & (align - 1)) != 0)) {
    LOG_ERROR("%s: '%s' declared inconsistent atomic write limits (max %u, align %u, "
              "granularity %u); ignored", name_.c_str(), dev_.cfgstring.c_str(), lim.max_bytes,
              align, gran);
    return;
  }
  atomic_align_.store(align);
  atomic_gran_.store(gran);
  atomic_max_.store(lim.max_bytes);
  LOG_DEBUG("%s: '%s' atomic writes: up to %u bytes, alignment %u, granularity %u",
            name_.c_str(), dev_.cfgstring.c_str(), lim.max_bytes, align, gran);
}

void Device::NotifySizeChanged() {
  std::lock_guard<std::mutex> l(cb_mu_);
  if (size_changed_cb_) size_changed_cb_();
}

// ---- Cluster lock group ----

int Device::Lock(uint16_t tag) {
  return CallLockGroup(desc_.lock, MODTGT_STS_UNSUPPORTED, tag);
}

int Device::Unlock() { return CallLockGroup(desc_.unlock, MODTGT_STS_UNSUPPORTED); }

int Device::GetLockTag(uint16_t* tag) {
  return CallLockGroup(desc_.get_lock_tag, MODTGT_STS_UNSUPPORTED, tag);
}

int Device::GetLockState() {
  int st = CallLockGroup(desc_.get_lock_state, MODTGT_LOCK_UNKNOWN);
  return st >= MODTGT_LOCK_UNLOCKED && st <= MODTGT_LOCK_UNKNOWN ? st : MODTGT_LOCK_UNKNOWN;
}

// ---- Events ----

void Device::ReportEvent(int event, const char* detail) {
  const char* what = event == MODTGT_EVENT_LOCK_LOST       ? "lock lost"
                     : event == MODTGT_EVENT_CONN_LOST     ? "connection lost"
                     : event == MODTGT_EVENT_CONN_RESTORED ? "connection restored"
                                                           : nullptr;
  if (what == nullptr) {
    LOG_ERROR("%s: '%s' reported unknown event %d; ignored", name_.c_str(),
              dev_.cfgstring.c_str(), event);
    return;
  }
  std::string text = what;
  if (detail != nullptr && *detail) text += std::string(": ") + detail;
  LOG_WARN("%s: '%s' (%s): %s", name_.c_str(), dev_.cfgstring.c_str(), user_.c_str(),
           text.c_str());
  {
    std::lock_guard<std::mutex> l(events_mu_);
    switch (event) {
      case MODTGT_EVENT_LOCK_LOST: ++events_.lock_lost; break;
      case MODTGT_EVENT_CONN_LOST: ++events_.conn_lost; events_.connected = false; break;
      case MODTGT_EVENT_CONN_RESTORED: ++events_.conn_restored; events_.connected = true; break;
    }
    events_.last = std::move(text);
  }
  // The LU's callback (ALUA) runs under cb_mu_, so the LU cannot go while it runs.
  std::lock_guard<std::mutex> l(cb_mu_);
  if (event_cb_) event_cb_(event);
}

void Device::SetEventCallback(std::function<void(int event)> cb) {
  std::lock_guard<std::mutex> l(cb_mu_);
  event_cb_ = std::move(cb);
}

Device::EventCounts Device::events() const {
  std::lock_guard<std::mutex> l(events_mu_);
  return events_;
}

uint32_t Device::inflight() const {
  std::lock_guard<std::mutex> l(slots_mu_);
  return inflight_;
}

uint64_t Device::data_area_peak() const {
  std::lock_guard<std::mutex> l(slots_mu_);
  return area_peak_;
}

uint64_t Device::data_area_waiting() const {
  std::lock_guard<std::mutex> l(slots_mu_);
  return area_wait_.size();
}

namespace {
// The data bytes an I/O holds while in flight, for the data-area budget.
uint64_t AreaBytes(const scsi::Command* cmd) {
  const scsi::IoRequest& io = cmd->io;
  if (io.op == scsi::IoOp::kHandleCmd) return cmd->expected_length;
  uint64_t n = 0;
  for (int i = 0; i < io.iovcnt; i++) n += io.iov[i].iov_len;
  return n;
}
}  // namespace

bool Device::HasCallout(const scsi::IoRequest& io) const {
  bool present = false;
  switch (io.op) {
    case scsi::IoOp::kRead: present = desc_.read != nullptr; break;
    case scsi::IoOp::kWrite: present = desc_.write != nullptr; break;
    case scsi::IoOp::kFlush: present = desc_.flush != nullptr; break;
    case scsi::IoOp::kUnmap: present = desc_.unmap != nullptr; break;
    case scsi::IoOp::kWriteSame: present = desc_.write_same != nullptr; break;
    case scsi::IoOp::kCaw: present = desc_.caw != nullptr; break;
    case scsi::IoOp::kHandleCmd: present = desc_.handle_cmd != nullptr; break;
    case scsi::IoOp::kLbaStatus: present = desc_.get_lba_status != nullptr; break;
  }
  // An atomic write reaches only a module that promised to honour the flag.
  if (io.op == scsi::IoOp::kWrite && (io.flags & MODTGT_IO_ATOMIC) &&
      !(desc_.caps & MODTGT_CAP_ATOMIC_WRITE)) {
    present = false;
  }
  return present;
}

namespace {
// What a command whose callout the module lacks completes with (module.h: a missing flush
// means there is nothing to flush).
int MissingCalloutStatus(scsi::IoOp op) {
  return op == scsi::IoOp::kFlush ? MODTGT_STS_OK
         : op == scsi::IoOp::kHandleCmd ? MODTGT_STS_NOT_HANDLED
                                        : MODTGT_STS_UNSUPPORTED;
}
}  // namespace

void Device::Submit(scsi::Command* cmd) {
  scsi::IoRequest& io = cmd->io;
  if (area_budget_ == 0) {
    // The fast path: no lock shared with the other loops (see device.h).
    inflight_.fetch_add(1);
    if (!gated_.load()) {
      if (!HasCallout(io)) {
        DecInflight();
        scsi::IoDone(cmd, MissingCalloutStatus(io.op));
        return;
      }
      IoSlot* s = AcquireSlot(cmd);
      if (s == nullptr) {
        DecInflight();
        scsi::IoDone(cmd, MODTGT_STS_BUSY);
        return;
      }
      Dispatch(s);
      return;
    }
    DecInflight();  // held or failed: the locked path below decides
  }
  bool present = false;
  bool failed = false;
  IoSlot* s = nullptr;
  {
    std::lock_guard<std::mutex> l(slots_mu_);
    if (held_) {  // a reload is in progress: the command waits here, the loop does not
      held_cmds_.push_back(cmd);
      return;
    }
    failed = failed_;
    if (!failed) {
      present = HasCallout(io);
      if (present && area_budget_ > 0) {
        const uint64_t bytes = AreaBytes(cmd);
        if (inflight_.load() > 0 && area_inflight_ + bytes > area_budget_) {
          area_wait_.push_back(cmd);
          return;
        }
        // The slot keeps a Hold from completing, so module_/desc_/pool_ stay as read below
        // until this I/O finishes.
        s = AcquireSlot(cmd);
        if (s != nullptr) {
          inflight_.fetch_add(1);
          area_inflight_ += bytes;
          area_peak_ = std::max(area_peak_, area_inflight_);
          s->area_bytes = bytes;
        }
      } else if (present) {
        s = AcquireSlot(cmd);
        if (s != nullptr) inflight_.fetch_add(1);
      }
    }
  }
  if (failed) {
    FailCommand(cmd);
    return;
  }
  if (!present) {
    scsi::IoDone(cmd, MissingCalloutStatus(io.op));
    return;
  }
  if (s == nullptr) {
    scsi::IoDone(cmd, MODTGT_STS_BUSY);
    return;
  }
  Dispatch(s);
}

void Device::Dispatch(IoSlot* s) {
  scsi::Command* cmd = s->cmd;
  scsi::IoRequest& io = cmd->io;
  if (io.op == scsi::IoOp::kHandleCmd && io.iovcnt == 0) {
    // The command's own buffer, sized for the Data-In it may produce. On the owning loop:
    // the only thread allowed to resize it.
    if ((cmd->dir == scsi::DataDirection::kRead || cmd->dir == scsi::DataDirection::kBidi) &&
        cmd->data.size() < cmd->expected_length) {
      cmd->data.Resize(cmd->expected_length);
    }
    s->data_iov = iovec{cmd->data.data(), cmd->data.size()};
  }
  if (pool_) {
    pool_->Push(&s->work);
    return;
  }
  int st = Call(s);
  if (st != MODTGT_STS_ASYNC) Finish(s, st);
}

void Device::RunWork(env::Completion* c) {
  IoSlot* s = reinterpret_cast<IoSlot*>(c);  // work is IoSlot's first member
  Device* d = s->device;
  int st = d->Call(s);
  if (st != MODTGT_STS_ASYNC) d->Finish(s, st);
}

int Device::Call(IoSlot* s) {
  scsi::Command* cmd = s->cmd;
  const scsi::IoRequest& io = cmd->io;
  modtgt_io* h = reinterpret_cast<modtgt_io*>(s);
  CalloutScope scope(module_.get());
  switch (io.op) {
    case scsi::IoOp::kRead:
      return desc_.read(&dev_, h, io.iov, io.iovcnt, io.offset);
    case scsi::IoOp::kWrite:
      return desc_.write(&dev_, h, io.iov, io.iovcnt, io.offset, io.flags);
    case scsi::IoOp::kFlush:
      return desc_.flush(&dev_, h);
    case scsi::IoOp::kUnmap:
      return desc_.unmap(&dev_, h, io.offset, io.length);
    case scsi::IoOp::kWriteSame:
      return desc_.write_same(&dev_, h, io.iov, io.iovcnt, io.offset, io.length);
    case scsi::IoOp::kCaw:
      return desc_.caw(&dev_, h, io.iov, io.iovcnt, io.offset, io.length);
    case scsi::IoOp::kHandleCmd:
      return desc_.handle_cmd(&dev_, reinterpret_cast<modtgt_cmd*>(s));
    case scsi::IoOp::kLbaStatus:
      cmd->io.extent = scsi::LbaExtent{};
      return desc_.get_lba_status(&dev_, h, io.offset, io.length,
                                  reinterpret_cast<modtgt_lba_status*>(&cmd->io.extent));
  }
  return MODTGT_STS_UNSUPPORTED;
}

void Device::Finish(IoSlot* s, int status) {
  if (!s->busy.exchange(false, std::memory_order_acq_rel)) {
    LOG_ERROR("%s: module completed an I/O that is not in flight (completed twice?)",
              name_.c_str());
    return;
  }
  scsi::Command* cmd = s->cmd;
  const scsi::IoOp op = cmd->io.op;
  if (!ValidStatus(op, status, MODTGT_ABI_MINOR_OF(desc_.abi_version))) {
    static std::atomic<uint32_t> logged{0};
    if (logged.fetch_add(1, std::memory_order_relaxed) < kMaxBadStatusLogs) {
      LOG_ERROR("%s: callout returned invalid status %d; reporting a medium error",
                name_.c_str(), status);
    }
    status = (op == scsi::IoOp::kRead || op == scsi::IoOp::kLbaStatus) ? MODTGT_STS_READ_ERROR
                                                                       : MODTGT_STS_WRITE_ERROR;
  }
  ReleaseSlot(s);  // after this, `this` may be destroyed: touch only cmd
  scsi::IoDone(cmd, status);
}

void Device::CompleteFromModule(IoSlot* slot, int status) {
  if (slot == nullptr) {
    LOG_ERROR("module completed a NULL I/O handle");
    return;
  }
  slot->device->Finish(slot, status);
}

}  // namespace modtgt::core
