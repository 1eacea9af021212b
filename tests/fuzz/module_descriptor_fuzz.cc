// SPDX-License-Identifier: Apache-2.0
// Fuzzes the checks a backing-store module's descriptor goes through at load
// (core::ValidateDescriptor: struct_size, ABI version, kind, names, mandatory callbacks,
// the lock group, device type, block size, nr_threads), the way a broken or hostile module
// would present it. The input gives the numeric fields, the strings (each may be absent)
// and which callbacks are set (to harmless stubs). Invariants: an accepted descriptor has
// a valid name and the mandatory callbacks; nothing crashes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/module_loader.h"
#include "modtgt/module.h"

namespace {

// Reads from the input, yielding zeros once it runs out.
class Input {
 public:
  Input(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  uint32_t U32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= static_cast<uint32_t>(Byte()) << (8 * i);
    return v;
  }
  uint8_t Byte() { return pos_ < n_ ? d_[pos_++] : 0; }
  // A string of up to 63 bytes (length first); nullopt-like: flag byte 0 = absent.
  bool Str(std::string* out) {
    if (Byte() == 0) return false;
    size_t len = Byte() % 64;
    out->clear();
    for (size_t i = 0; i < len; i++) out->push_back(static_cast<char>(Byte()));
    return true;
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
};

int StubOpen(modtgt_dev*, int) { return 0; }
void StubClose(modtgt_dev*) {}
int StubRead(modtgt_dev*, modtgt_io*, const struct iovec*, int, uint64_t) { return 0; }
int StubWrite(modtgt_dev*, modtgt_io*, const struct iovec*, int, uint64_t, uint32_t) { return 0; }
int StubIo(modtgt_dev*, modtgt_io*) { return 0; }
int StubRange(modtgt_dev*, modtgt_io*, uint64_t, uint64_t) { return 0; }
int StubCheck(const modtgt_dev_config*) { return 0; }
int StubWriteSame(modtgt_dev*, modtgt_io*, const struct iovec*, int, uint64_t, uint64_t) {
  return 0;
}
int StubLoad() { return 0; }
void StubUnload() {}
int StubCmd(modtgt_dev*, modtgt_cmd*) { return 0; }
int StubReconfig(modtgt_dev*, const modtgt_reconfig*) { return 0; }
int StubLock(modtgt_dev*, uint16_t) { return 0; }
int StubUnlock(modtgt_dev*) { return 0; }
int StubTag(modtgt_dev*, uint16_t*) { return 0; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  modtgt_backing_store d;
  std::memset(&d, 0, sizeof(d));
  d.struct_size = in.U32();
  d.abi_version = in.U32();
  d.kind = in.U32();
  d.caps = in.U32();
  d.nr_threads = in.U32();
  d.device_type = in.U32();
  d.default_block_size = in.U32();
  std::string name, subtype, version, description, cfg_desc;
  if (in.Str(&name)) d.name = name.c_str();
  if (in.Str(&subtype)) d.subtype = subtype.c_str();
  if (in.Str(&version)) d.version = version.c_str();
  if (in.Str(&description)) d.description = description.c_str();
  if (in.Str(&cfg_desc)) d.cfg_desc = cfg_desc.c_str();
  const uint32_t set = in.U32();
  auto on = [&](int bit) { return (set >> bit) & 1u; };
  if (on(0)) d.load = StubLoad;
  if (on(1)) d.unload = StubUnload;
  if (on(2)) d.check_config = StubCheck;
  if (on(3)) d.open = StubOpen;
  if (on(4)) d.close = StubClose;
  if (on(5)) d.read = StubRead;
  if (on(6)) d.write = StubWrite;
  if (on(7)) d.flush = StubIo;
  if (on(8)) d.unmap = StubRange;
  if (on(9)) d.write_same = StubWriteSame;
  if (on(10)) d.caw = StubWriteSame;
  if (on(11)) d.handle_cmd = StubCmd;
  if (on(12)) d.reconfig = StubReconfig;
  if (on(13)) d.lock = StubLock;
  if (on(14)) d.unlock = StubUnlock;
  if (on(15)) d.get_lock_tag = StubTag;
  if (on(16)) d.get_lock_state = StubUnlock;

  modtgt_backing_store out;
  modtgt::Status s = modtgt::core::ValidateDescriptor("bs_fuzz.so", &d, &out);
  if (s.ok()) {
    if (out.name == nullptr || *out.name == '\0' || out.read == nullptr) std::abort();
  } else if (s.message().find("bs_fuzz.so") == std::string::npos &&
             s.message().find(std::string(name.c_str())) == std::string::npos) {
    // (name.c_str(): the descriptor sees the name up to its first NUL.)
    std::fprintf(stderr, "refusal without the module's name: %s\n", s.message().c_str());
    std::abort();  // a refusal names the module
  }
  return 0;
}
