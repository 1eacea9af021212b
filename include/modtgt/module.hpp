// SPDX-License-Identifier: Apache-2.0
//
// modtgt/module.hpp - an optional, header-only C++ (C++20) layer over modtgt/module.h.
//
// It adds nothing to the ABI: the module still exports only modtgt_module_init and hands
// the daemon a plain modtgt_backing_store. What it gives a C++ author:
//   - one object per device: the constructor is open(), the destructor is close();
//   - I/O callouts as member functions, detected at compile time (a missing optional
//     member leaves the callback NULL, so the core emulates it);
//   - noexcept trampolines: no exception ever crosses the ABI. A lifecycle callback that
//     throws modtgt::Error fails with its code and message; any other exception fails
//     with MODTGT_EINTERNAL (std::bad_alloc: MODTGT_ENOMEM). An I/O callout that throws
//     is logged and completes with MODTGT_STS_READ_ERROR (reads) or
//     MODTGT_STS_WRITE_ERROR (everything else);
//   - MODTGT_REGISTER_BACKING_STORE(Class, "name", options...), which defines
//     modtgt_module_init. Use it once per module, at global scope.
//
// The device class (all members are optional unless marked):
//
//   class MyDev {
//    public:
//     static int Load();                                    // module-global setup
//     static void Unload();
//     static void CheckConfig(const modtgt_dev_config& c);  // throw modtgt::Error to reject
//                                                           // (or return int: 0 / MODTGT_E*)
//     MyDev(modtgt::Device dev, bool reopen);               // REQUIRED: open; throw to fail
//     ~MyDev();                                             // close; must not throw
//     int Read(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset);      // REQUIRED
//     int Write(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset,
//               uint32_t flags);                                                   // REQUIRED
//     int Flush(modtgt_io* io);
//     int Unmap(modtgt_io* io, uint64_t offset, uint64_t length);
//     int WriteSame(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset,
//                   uint64_t length);
//     int Caw(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset, uint64_t length);
//     int HandleCmd(modtgt_cmd* cmd);
//     int Reconfig(const modtgt_reconfig& rc);              // ABI 1.1; throw modtgt::Error
//                                                           // to refuse (or return MODTGT_E*)
//     int Lock(uint16_t tag); int Unlock();                 // ABI 1.1 cluster lock group:
//     int GetLockTag(uint16_t* tag); int GetLockState();    // all four or none
//     int GetLbaStatus(modtgt_io* io, uint64_t offset, uint64_t length,
//                      modtgt_lba_status* out);             // ABI 1.2
//   };
//   MODTGT_REGISTER_BACKING_STORE(MyDev, "mine", .version = "1.0", .nr_threads = 4)
//
// I/O members return a modtgt_status (MODTGT_STS_*), or MODTGT_STS_ASYNC and later
// modtgt::Complete(io, status). They run as the descriptor's nr_threads says (module.h):
// with nr_threads > 1, several callouts of one device run at once, so guard shared state.
// The options are BackingStoreOptions fields, in declaration order (designated
// initializers): subtype, version, description, cfg_desc, nr_threads, caps, device_type,
// default_block_size. A class whose writes honour MODTGT_IO_ATOMIC puts
// MODTGT_CAP_ATOMIC_WRITE in caps and calls Device::set_atomic_limits in its constructor.
#ifndef MODTGT_MODULE_HPP
#define MODTGT_MODULE_HPP

#include <concepts>
#include <cstddef>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "modtgt/module.h"

namespace modtgt {
namespace detail {
// The host table of this module, set by modtgt_module_init (defined by the register
// macro). Hidden: every module has its own, even if built without -fvisibility=hidden.
extern const modtgt_host* g_host __attribute__((visibility("hidden")));
}  // namespace detail

// The host services table. Valid from modtgt_module_init until the module is unloaded.
inline const modtgt_host* Host() noexcept { return detail::g_host; }

// printf-style logging through host->log. Any thread.
inline void Log(modtgt_log_level level, const char* fmt, ...) MODTGT_PRINTF(2, 3);
inline void Log(modtgt_log_level level, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  Host()->log(level, "%s", buf);
}

// Completes an I/O whose callout returned MODTGT_STS_ASYNC. Exactly once, any thread.
inline void Complete(modtgt_io* io, int status) noexcept {
  Host()->complete(io, static_cast<modtgt_status>(status));
}

// Thrown by module code to fail a lifecycle callback (load, check_config, open) with a
// MODTGT_E* code and a reason the administrator sees.
class Error : public std::exception {
 public:
  Error(int code, std::string message) : code_(code), message_(std::move(message)) {}
  int code() const noexcept { return code_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  int code_;
  std::string message_;
};

// A device handle as the module sees it (a thin, copyable wrapper of modtgt_dev*).
class Device {
 public:
  explicit Device(modtgt_dev* dev) noexcept : dev_(dev) {}
  modtgt_dev* raw() const noexcept { return dev_; }
  // The configuration; valid until close.
  const modtgt_dev_config& config() const noexcept { return *Host()->dev_get_config(dev_); }
  // Sets the size in bytes (in the constructor, unless config().size is set; in Reconfig;
  // or at any time the storage changed size on its own: initiators are told).
  void set_size(uint64_t bytes) const noexcept { Host()->dev_set_size(dev_, bytes); }
  // Reports a modtgt_event (ABI 1.1). Any thread.
  void report_event(modtgt_event event, const char* detail) const noexcept {
    Host()->dev_report_event(dev_, event, detail);
  }
  // Declares the device's atomic write limits in bytes (ABI 1.2; the module needs
  // MODTGT_CAP_ATOMIC_WRITE). In the constructor or Reconfig. A daemon older than 1.2
  // has no such service: then nothing is declared (and none is advertised).
  void set_atomic_limits(uint32_t max_bytes, uint32_t align_bytes,
                         uint32_t granularity_bytes) const noexcept {
    const modtgt_host* h = Host();
    if (h->struct_size < offsetof(modtgt_host, dev_set_atomic_limits) + sizeof(void*)) return;
    modtgt_atomic_limits lim{};
    lim.struct_size = sizeof(lim);
    lim.max_bytes = max_bytes;
    lim.align_bytes = align_bytes;
    lim.granularity_bytes = granularity_bytes;
    h->dev_set_atomic_limits(dev_, &lim);
  }
  // Storage the host keeps for this LUN across a reload and a rebuild (ABI 1.3; module.h
  // dev_keep_fd / dev_kept_fd). keep_fd returns MODTGT_ENOTSUP on an older daemon;
  // kept_fd returns -1 when the host keeps none (or is older).
  int keep_fd(int fd) const noexcept {
    const modtgt_host* h = Host();
    if (h->struct_size < offsetof(modtgt_host, dev_kept_fd) + sizeof(void*)) return MODTGT_ENOTSUP;
    return h->dev_keep_fd(dev_, fd);
  }
  int kept_fd() const noexcept {
    const modtgt_host* h = Host();
    if (h->struct_size < offsetof(modtgt_host, dev_kept_fd) + sizeof(void*)) return -1;
    return h->dev_kept_fd(dev_);
  }

 private:
  modtgt_dev* dev_;
};

// Descriptor fields other than the name and the callbacks.
struct BackingStoreOptions {
  const char* subtype = nullptr;
  const char* version = "0.0.0";
  const char* description = "";
  const char* cfg_desc = "";
  uint32_t nr_threads = 0;
  uint32_t caps = 0;
  uint32_t device_type = MODTGT_DEVTYPE_DISK;  // ABI 1.1
  uint32_t default_block_size = 0;             // ABI 1.1; 0 = 512
};

namespace detail {

template <class T>
concept HasLoad = requires { { T::Load() } -> std::convertible_to<int>; };
template <class T>
concept HasUnload = requires { T::Unload(); };
template <class T>
concept HasCheckConfig = requires(const modtgt_dev_config& c) { T::CheckConfig(c); };
template <class T>
concept HasRead = requires(T& t, modtgt_io* io, const iovec* v, int n, uint64_t o) {
  { t.Read(io, v, n, o) } -> std::convertible_to<int>;
};
template <class T>
concept HasWrite = requires(T& t, modtgt_io* io, const iovec* v, int n, uint64_t o, uint32_t f) {
  { t.Write(io, v, n, o, f) } -> std::convertible_to<int>;
};
template <class T>
concept HasFlush = requires(T& t, modtgt_io* io) { { t.Flush(io) } -> std::convertible_to<int>; };
template <class T>
concept HasUnmap = requires(T& t, modtgt_io* io, uint64_t o, uint64_t l) {
  { t.Unmap(io, o, l) } -> std::convertible_to<int>;
};
template <class T>
concept HasWriteSame = requires(T& t, modtgt_io* io, const iovec* v, int n, uint64_t o, uint64_t l) {
  { t.WriteSame(io, v, n, o, l) } -> std::convertible_to<int>;
};
template <class T>
concept HasCaw = requires(T& t, modtgt_io* io, const iovec* v, int n, uint64_t o, uint64_t l) {
  { t.Caw(io, v, n, o, l) } -> std::convertible_to<int>;
};
template <class T>
concept HasHandleCmd = requires(T& t, modtgt_cmd* c) { { t.HandleCmd(c) } -> std::convertible_to<int>; };
template <class T>
concept HasGetLbaStatus = requires(T& t, modtgt_io* io, uint64_t o, uint64_t l,
                                   modtgt_lba_status* out) {
  { t.GetLbaStatus(io, o, l, out) } -> std::convertible_to<int>;
};
template <class T>
concept HasReconfig = requires(T& t, const modtgt_reconfig& rc) {
  { t.Reconfig(rc) } -> std::convertible_to<int>;
};
template <class T>
concept HasLockGroup = requires(T& t, uint16_t tag, uint16_t* out) {
  { t.Lock(tag) } -> std::convertible_to<int>;
  { t.Unlock() } -> std::convertible_to<int>;
  { t.GetLockTag(out) } -> std::convertible_to<int>;
  { t.GetLockState() } -> std::convertible_to<int>;
};

// Runs a lifecycle body; an exception becomes host->error + a negative MODTGT_E*.
template <class F>
int GuardLifecycle(const char* what, F&& f) noexcept {
  try {
    return f();
  } catch (const Error& e) {
    Host()->error("%s", e.what());
    return e.code() < 0 ? e.code() : MODTGT_EINTERNAL;
  } catch (const std::bad_alloc&) {
    Host()->error("%s: out of memory", what);
    return MODTGT_ENOMEM;
  } catch (const std::exception& e) {
    Host()->error("%s: unexpected exception: %s", what, e.what());
    return MODTGT_EINTERNAL;
  } catch (...) {
    Host()->error("%s: unexpected exception", what);
    return MODTGT_EINTERNAL;
  }
}

// Runs an I/O body; an exception is logged and becomes `failure`.
template <class F>
int GuardIo(const char* what, int failure, F&& f) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    Host()->log(MODTGT_LOG_ERROR, "%s: exception: %s", what, e.what());
  } catch (...) {
    Host()->log(MODTGT_LOG_ERROR, "%s: unknown exception", what);
  }
  return failure;
}

template <class T>
T* Self(modtgt_dev* dev) noexcept {
  return static_cast<T*>(Host()->dev_get_private(dev));
}

template <class T>
struct Trampolines {
  static int Load() noexcept {
    return GuardLifecycle("load", [] { return static_cast<int>(T::Load()); });
  }
  static void Unload() noexcept {
    try {
      T::Unload();
    } catch (...) {
      Host()->log(MODTGT_LOG_ERROR, "unload: exception ignored");
    }
  }
  static int CheckConfig(const modtgt_dev_config* cfg) noexcept {
    return GuardLifecycle("check_config", [cfg] {
      if constexpr (std::is_same_v<decltype(T::CheckConfig(*cfg)), void>) {
        T::CheckConfig(*cfg);
        return 0;
      } else {
        return static_cast<int>(T::CheckConfig(*cfg));
      }
    });
  }
  static int Open(modtgt_dev* dev, int reopen) noexcept {
    return GuardLifecycle("open", [dev, reopen] {
      T* self = new T(Device(dev), reopen != 0);
      Host()->dev_set_private(dev, self);
      return 0;
    });
  }
  static void Close(modtgt_dev* dev) noexcept {
    delete Self<T>(dev);  // destructors are noexcept: a throwing one terminates
    Host()->dev_set_private(dev, nullptr);
  }
  static int Read(modtgt_dev* dev, modtgt_io* io, const iovec* iov, int n, uint64_t off) noexcept {
    return GuardIo("read", MODTGT_STS_READ_ERROR,
                   [&] { return static_cast<int>(Self<T>(dev)->Read(io, iov, n, off)); });
  }
  static int Write(modtgt_dev* dev, modtgt_io* io, const iovec* iov, int n, uint64_t off,
                   uint32_t flags) noexcept {
    return GuardIo("write", MODTGT_STS_WRITE_ERROR,
                   [&] { return static_cast<int>(Self<T>(dev)->Write(io, iov, n, off, flags)); });
  }
  static int Flush(modtgt_dev* dev, modtgt_io* io) noexcept {
    return GuardIo("flush", MODTGT_STS_WRITE_ERROR,
                   [&] { return static_cast<int>(Self<T>(dev)->Flush(io)); });
  }
  static int Unmap(modtgt_dev* dev, modtgt_io* io, uint64_t off, uint64_t len) noexcept {
    return GuardIo("unmap", MODTGT_STS_WRITE_ERROR,
                   [&] { return static_cast<int>(Self<T>(dev)->Unmap(io, off, len)); });
  }
  static int WriteSame(modtgt_dev* dev, modtgt_io* io, const iovec* iov, int n, uint64_t off,
                       uint64_t len) noexcept {
    return GuardIo("write_same", MODTGT_STS_WRITE_ERROR, [&] {
      return static_cast<int>(Self<T>(dev)->WriteSame(io, iov, n, off, len));
    });
  }
  static int Caw(modtgt_dev* dev, modtgt_io* io, const iovec* iov, int n, uint64_t off,
                 uint64_t len) noexcept {
    return GuardIo("caw", MODTGT_STS_WRITE_ERROR,
                   [&] { return static_cast<int>(Self<T>(dev)->Caw(io, iov, n, off, len)); });
  }
  static int HandleCmd(modtgt_dev* dev, modtgt_cmd* cmd) noexcept {
    return GuardIo("handle_cmd", MODTGT_STS_WRITE_ERROR,
                   [&] { return static_cast<int>(Self<T>(dev)->HandleCmd(cmd)); });
  }
  static int Reconfig(modtgt_dev* dev, const modtgt_reconfig* rc) noexcept {
    return GuardLifecycle("reconfig",
                          [&] { return static_cast<int>(Self<T>(dev)->Reconfig(*rc)); });
  }
  static int Lock(modtgt_dev* dev, uint16_t tag) noexcept {
    return GuardIo("lock", MODTGT_STS_NO_RESOURCE,
                   [&] { return static_cast<int>(Self<T>(dev)->Lock(tag)); });
  }
  static int Unlock(modtgt_dev* dev) noexcept {
    return GuardIo("unlock", MODTGT_STS_NO_RESOURCE,
                   [&] { return static_cast<int>(Self<T>(dev)->Unlock()); });
  }
  static int GetLockTag(modtgt_dev* dev, uint16_t* tag) noexcept {
    return GuardIo("get_lock_tag", MODTGT_STS_NO_RESOURCE,
                   [&] { return static_cast<int>(Self<T>(dev)->GetLockTag(tag)); });
  }
  static int GetLbaStatus(modtgt_dev* dev, modtgt_io* io, uint64_t off, uint64_t len,
                          modtgt_lba_status* out) noexcept {
    return GuardIo("get_lba_status", MODTGT_STS_READ_ERROR, [&] {
      return static_cast<int>(Self<T>(dev)->GetLbaStatus(io, off, len, out));
    });
  }
  static int GetLockState(modtgt_dev* dev) noexcept {
    return GuardIo("get_lock_state", MODTGT_LOCK_UNKNOWN,
                   [&] { return static_cast<int>(Self<T>(dev)->GetLockState()); });
  }
};

}  // namespace detail

// Builds the descriptor for device class T. Used by MODTGT_REGISTER_BACKING_STORE.
template <class T>
constexpr modtgt_backing_store MakeBackingStore(const char* name, BackingStoreOptions o) {
  static_assert(std::is_constructible_v<T, Device, bool>,
                "the device class needs a constructor T(modtgt::Device, bool reopen)");
  static_assert(detail::HasRead<T>, "the device class needs int Read(modtgt_io*, const iovec*, "
                                    "int, uint64_t)");
  static_assert(detail::HasWrite<T>, "the device class needs int Write(modtgt_io*, const iovec*, "
                                     "int, uint64_t, uint32_t)");
  using Tr = detail::Trampolines<T>;
  modtgt_backing_store d{};
  d.struct_size = sizeof(modtgt_backing_store);
  d.abi_version = MODTGT_ABI_VERSION;
  d.kind = MODTGT_KIND_BACKING_STORE;
  d.caps = o.caps;
  d.name = name;
  d.subtype = o.subtype;
  d.version = o.version;
  d.description = o.description;
  d.cfg_desc = o.cfg_desc;
  d.nr_threads = o.nr_threads;
  if constexpr (detail::HasLoad<T>) d.load = &Tr::Load;
  if constexpr (detail::HasUnload<T>) d.unload = &Tr::Unload;
  if constexpr (detail::HasCheckConfig<T>) d.check_config = &Tr::CheckConfig;
  d.open = &Tr::Open;
  d.close = &Tr::Close;
  d.read = &Tr::Read;
  d.write = &Tr::Write;
  if constexpr (detail::HasFlush<T>) d.flush = &Tr::Flush;
  if constexpr (detail::HasUnmap<T>) d.unmap = &Tr::Unmap;
  if constexpr (detail::HasWriteSame<T>) d.write_same = &Tr::WriteSame;
  if constexpr (detail::HasCaw<T>) d.caw = &Tr::Caw;
  if constexpr (detail::HasHandleCmd<T>) d.handle_cmd = &Tr::HandleCmd;
  d.device_type = o.device_type;
  d.default_block_size = o.default_block_size;
  if constexpr (detail::HasReconfig<T>) d.reconfig = &Tr::Reconfig;
  if constexpr (detail::HasLockGroup<T>) {
    d.lock = &Tr::Lock;
    d.unlock = &Tr::Unlock;
    d.get_lock_tag = &Tr::GetLockTag;
    d.get_lock_state = &Tr::GetLockState;
  }
  if constexpr (detail::HasGetLbaStatus<T>) d.get_lba_status = &Tr::GetLbaStatus;
  return d;
}

}  // namespace modtgt

// Defines the module's entry point for device class Class. Use once, at global scope.
// Extra arguments are BackingStoreOptions designated initializers, in declaration order:
//   MODTGT_REGISTER_BACKING_STORE(NullDev, "null", .version = "1.0", .caps = MODTGT_CAP_THIN)
#define MODTGT_REGISTER_BACKING_STORE(Class, name, ...)                                   \
  const modtgt_host* modtgt::detail::g_host = nullptr;                                    \
  extern "C" MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(                \
      const modtgt_host* host) {                                                          \
    ::modtgt::detail::g_host = host;                                                      \
    static constexpr modtgt_backing_store kModtgtDescriptor =                             \
        ::modtgt::MakeBackingStore<Class>(name, ::modtgt::BackingStoreOptions{__VA_ARGS__}); \
    return &kModtgtDescriptor;                                                            \
  }

#endif  // MODTGT_MODULE_HPP
