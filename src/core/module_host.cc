// SPDX-License-Identifier: Apache-2.0
// The host services table handed to every backing-store module (include/modtgt/module.h,
// struct modtgt_host): logging and error text, device private data and config, size
// changes, events, and the command calls of handle_cmd modules (CDB, data, sense, status,
// completion), and the event-loop services of ABI 1.5 (module_loop.cc). Each entry is a
// plain C function forwarding to core::Device or env::EventLoop.
//
// Threading: every entry may be called from any thread, as module.h documents per call.
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/log.h"
#include "core/device.h"
#include "core/module_loader.h"
#include "modtgt/module.h"
#include "scsi/sense.h"

namespace modtgt::core {

// ABI 1.5 event-loop services (module_loop.cc).
int HostLoopDefer(void (*fn)(void* arg), void* arg);
modtgt_watch* HostLoopWatchFd(int fd, void (*fn)(void* arg), void* arg);
void HostLoopUnwatch(modtgt_watch* w);

namespace {

void HostLog(modtgt_log_level level, const char* fmt, ...) {
  int l = static_cast<int>(level);
  if (l < 0) l = 0;
  if (l > 3) l = 3;
  const LogLevel lv = static_cast<LogLevel>(l);
  if (!LogEnabled(lv)) return;
  const LoadedModule* m = CurrentModule();
  va_list ap;
  va_start(ap, fmt);
  LogV(lv, m ? m->log_prefix.c_str() : "module: ", fmt ? fmt : "(null)", ap);
  va_end(ap);
}

void HostError(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  RecordCalloutErrorV(fmt, ap);
  va_end(ap);
}

void HostDevSetPrivate(modtgt_dev* dev, void* priv) {
  if (dev) dev->priv = priv;
}

void* HostDevGetPrivate(modtgt_dev* dev) { return dev ? dev->priv : nullptr; }

const modtgt_dev_config* HostDevGetConfig(modtgt_dev* dev) { return dev ? &dev->config : nullptr; }

void HostDevSetSize(modtgt_dev* dev, uint64_t bytes) {
  if (dev && dev->device) {
    dev->device->SetSizeFromModule(bytes);
  } else if (dev) {
    dev->size.store(bytes);
  }
}

void HostDevSetAtomicLimits(modtgt_dev* dev, const modtgt_atomic_limits* limits) {
  if (dev == nullptr || dev->device == nullptr || limits == nullptr) return;
  // A struct from a later minor may be longer; one shorter than what we read is refused.
  if (limits->struct_size < sizeof(modtgt_atomic_limits)) {
    const LoadedModule* m = CurrentModule();
    LOG_ERROR("%sdev_set_atomic_limits: struct_size %u is too small; ignored",
              m ? m->log_prefix.c_str() : "", limits->struct_size);
    return;
  }
  dev->device->SetAtomicLimitsFromModule(*limits);
}

void HostDevReportEvent(modtgt_dev* dev, modtgt_event event, const char* detail) {
  if (dev && dev->device) dev->device->ReportEvent(static_cast<int>(event), detail);
}

int HostDevKeepFd(modtgt_dev* dev, int fd) {
  if (dev == nullptr || dev->device == nullptr) return MODTGT_EINVAL;
  return dev->device->KeepFd(fd);
}

int HostDevKeptFd(modtgt_dev* dev) {
  return dev && dev->device ? dev->device->kept_fd() : -1;
}

Device::IoSlot* SlotOf(void* handle) { return static_cast<Device::IoSlot*>(handle); }

void HostComplete(modtgt_io* io, modtgt_status status) {
  Device::CompleteFromModule(SlotOf(io), static_cast<int>(status));
}

const uint8_t* HostCmdCdb(modtgt_cmd* cmd, size_t* len) {
  scsi::Command* c = SlotOf(cmd)->cmd;
  if (len) *len = c->cdb_len;
  return c->cdb;
}

struct iovec* HostCmdData(modtgt_cmd* cmd, int* iovcnt) {
  Device::IoSlot* s = SlotOf(cmd);
  if (s->cmd->io.iovcnt > 0) {
    if (iovcnt) *iovcnt = s->cmd->io.iovcnt;
    return s->cmd->io.iov;
  }
  if (iovcnt) *iovcnt = s->data_iov.iov_len ? 1 : 0;
  return &s->data_iov;
}

// CHECK CONDITION with key/asc/ascq, in the format the initiator selected (D_SENSE).
void HostCmdSetSense(modtgt_cmd* cmd, uint8_t key, uint8_t asc, uint8_t ascq) {
  scsi::SetCheckCondition(SlotOf(cmd)->cmd, static_cast<scsi::SenseKey>(key & 0x0f),
                          scsi::Asc{static_cast<uint16_t>(asc << 8 | ascq)});
}

// SAM-5 5.3.1 status codes a module may set without sense data.
void HostCmdSetStatus(modtgt_cmd* cmd, uint8_t st) {
  scsi::Command* c = SlotOf(cmd)->cmd;
  switch (st) {
    case 0x00:  // GOOD
    case 0x04:  // CONDITION MET
    case 0x08:  // BUSY
    case 0x18:  // RESERVATION CONFLICT
    case 0x28:  // TASK SET FULL
    case 0x30:  // ACA ACTIVE
    case 0x40:  // TASK ABORTED
      c->status = static_cast<scsi::Status>(st);
      c->sense_len = 0;
      return;
    default: {
      const LoadedModule* m = CurrentModule();
      LOG_ERROR("%scmd_set_status(0x%02x): not a status without sense; reporting "
                "HARDWARE ERROR", m ? m->log_prefix.c_str() : "", st);
      scsi::SetCheckCondition(c, scsi::SenseKey::kHardwareError,
                              scsi::asc::kInternalTargetFailure);
    }
  }
}

void HostCmdSetSenseEx(modtgt_cmd* cmd, const modtgt_sense* sense) {
  scsi::Command* c = SlotOf(cmd)->cmd;
  if (sense == nullptr) {
    scsi::SetCheckCondition(c, scsi::SenseKey::kHardwareError, scsi::asc::kInternalTargetFailure);
    return;
  }
  scsi::SenseExtras x;
  x.has_info = (sense->flags & MODTGT_SENSE_INFO) != 0;
  x.info = sense->info;
  x.has_progress = (sense->flags & MODTGT_SENSE_PROGRESS) != 0;
  x.progress = sense->progress;
  x.has_field = (sense->flags & MODTGT_SENSE_FIELD_POINTER) != 0;
  x.field_in_cdb = sense->field_in_cdb != 0;
  x.field_byte = sense->field_pointer;
  x.field_bit = sense->bit_pointer_valid ? (sense->bit_pointer & 7) : -1;
  scsi::SetCheckConditionEx(c, static_cast<scsi::SenseKey>(sense->key & 0x0f),
                            scsi::Asc{static_cast<uint16_t>(sense->asc << 8 | sense->ascq)}, x);
}

int HostCmdSetSenseRaw(modtgt_cmd* cmd, const uint8_t* sense, size_t len) {
  scsi::Command* c = SlotOf(cmd)->cmd;
  if (!scsi::ValidRawSense(sense, len)) return MODTGT_EINVAL;
  std::memcpy(c->sense, sense, len);
  c->sense_len = static_cast<uint8_t>(len);
  c->status = scsi::Status::kCheckCondition;
  return 0;
}

void HostCmdSetDataInLength(modtgt_cmd* cmd, uint32_t bytes) {
  scsi::Command* c = SlotOf(cmd)->cmd;
  c->data_in_length = static_cast<uint32_t>(std::min<size_t>(bytes, c->data.size()));
}

void HostCmdComplete(modtgt_cmd* cmd, modtgt_status status) {
  Device::CompleteFromModule(SlotOf(cmd), static_cast<int>(status));
}

const modtgt_host kHostTable = {
    .struct_size = sizeof(modtgt_host),
    .abi_version = MODTGT_ABI_VERSION,
    .log = &HostLog,
    .error = &HostError,
    .dev_set_private = &HostDevSetPrivate,
    .dev_get_private = &HostDevGetPrivate,
    .dev_get_config = &HostDevGetConfig,
    .dev_set_size = &HostDevSetSize,
    .complete = &HostComplete,
    .cmd_cdb = &HostCmdCdb,
    .cmd_data = &HostCmdData,
    .cmd_set_sense = &HostCmdSetSense,
    .cmd_set_data_in_length = &HostCmdSetDataInLength,
    .cmd_complete = &HostCmdComplete,
    .dev_report_event = &HostDevReportEvent,
    .cmd_set_status = &HostCmdSetStatus,
    .cmd_set_sense_ex = &HostCmdSetSenseEx,
    .cmd_set_sense_raw = &HostCmdSetSenseRaw,
    .dev_set_atomic_limits = &HostDevSetAtomicLimits,
    .dev_keep_fd = &HostDevKeepFd,
    .dev_kept_fd = &HostDevKeptFd,
    .loop_defer = &HostLoopDefer,
    .loop_watch_fd = &HostLoopWatchFd,
    .loop_unwatch = &HostLoopUnwatch,
};

}  // namespace

const modtgt_host* ModuleHostTable() { return &kHostTable; }

}  // namespace modtgt::core
