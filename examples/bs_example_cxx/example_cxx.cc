// SPDX-License-Identifier: Apache-2.0
//
// bs_example_cxx: a file whose bytes are stored XORed with a repeating key, written in
// C++20 with the header-only helper <modtgt/module.hpp>. An example of an out-of-tree
// module built with the installed SDK (see README.md and the Makefile).
//
//   modtgtadm ... --bstype example_cxx --backing-store /srv/disk.xor --bsopts key=5a17c3
//
// Byte i of the LUN is byte i of the file XOR key[i % key length]. Not encryption (a
// repeating XOR key is trivially broken); it is the smallest transform that shows a
// module seeing and changing the data on its way to storage.
//
// Shows: one C++ object per device (constructor = open, destructor = close), a static
// CheckConfig that rejects bad options with modtgt::Error, blocking file I/O on the
// daemon's worker threads (nr_threads > 0), FUA and Flush with fdatasync, and exceptions
// (std::bad_alloc from a buffer) turned into SCSI errors by the module.hpp trampolines.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <modtgt/module.hpp>

namespace {

constexpr size_t kMaxKeyBytes = 64;

// Parses the --bsopts string "key=<hex>" into key bytes; throws modtgt::Error.
std::vector<uint8_t> ParseKey(std::string_view bsopts) {
  constexpr std::string_view kPrefix = "key=";
  if (bsopts.substr(0, kPrefix.size()) != kPrefix) {
    throw modtgt::Error(MODTGT_EINVAL,
                        "example_cxx needs --bsopts key=<hex bytes>, e.g. key=5a17c3 (got '" +
                            std::string(bsopts) + "')");
  }
  std::string_view hex = bsopts.substr(kPrefix.size());
  if (hex.empty() || hex.size() % 2 != 0 || hex.size() / 2 > kMaxKeyBytes) {
    throw modtgt::Error(MODTGT_EINVAL, "key must be 1 to 64 bytes as an even number of hex digits");
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<uint8_t> key;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      throw modtgt::Error(MODTGT_EINVAL, "key '" + std::string(hex) + "' is not hexadecimal");
    }
    key.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return key;
}

// XORs len bytes at p, which sit at byte `offset` of the device, with the key.
void Xor(uint8_t* p, size_t len, uint64_t offset, const std::vector<uint8_t>& key) {
  size_t k = offset % key.size();
  for (size_t i = 0; i < len; i++) {
    p[i] ^= key[k];
    if (++k == key.size()) k = 0;
  }
}

class XorFile {
 public:
  // Validates the options without touching the file (no side effect).
  static void CheckConfig(const modtgt_dev_config& cfg) {
    ParseKey(cfg.bsopts);
    if (cfg.path[0] == '\0') throw modtgt::Error(MODTGT_EINVAL, "no file name given");
  }

  // open(): runs on the admin thread; throwing fails the LUN creation with our message.
  XorFile(modtgt::Device dev, bool /*reopen*/) : key_(ParseKey(dev.config().bsopts)) {
    const modtgt_dev_config& cfg = dev.config();
    int flags = cfg.readonly ? O_RDONLY : O_RDWR;
    if (cfg.oflags & MODTGT_OFLAG_SYNC) flags |= O_SYNC;
    fd_ = ::open(cfg.path, flags | O_CLOEXEC);
    if (fd_ < 0) {
      int e = errno;
      throw modtgt::Error(e == ENOENT ? MODTGT_ENOENT : e == EACCES ? MODTGT_EACCES : MODTGT_EIO,
                          std::string("cannot open '") + cfg.path + "': " + std::strerror(e));
    }
    struct stat st;
    if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw modtgt::Error(MODTGT_EINVAL, std::string("'") + cfg.path + "' is not a regular file");
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (cfg.size != 0 && cfg.size < size) size = cfg.size;  // a LUN smaller than the file
    dev.set_size(size);
    modtgt::Log(MODTGT_LOG_INFO, "example_cxx: '%s', %llu bytes, %zu-byte key", cfg.path,
                static_cast<unsigned long long>(size), key_.size());
  }
  ~XorFile() { ::close(fd_); }
  XorFile(const XorFile&) = delete;
  XorFile& operator=(const XorFile&) = delete;

  // Runs on a daemon worker thread (nr_threads > 0): blocking I/O is fine. Several
  // callouts may run at once; each uses only its own buffers, and fd_ / key_ are
  // read-only after the constructor.
  int Read(modtgt_io*, const iovec* iov, int iovcnt, uint64_t offset) {
    for (int i = 0; i < iovcnt; i++) {
      auto* p = static_cast<uint8_t*>(iov[i].iov_base);
      if (!ReadFully(p, iov[i].iov_len, offset)) return MODTGT_STS_READ_ERROR;
      Xor(p, iov[i].iov_len, offset, key_);  // the read buffer is ours to fill
      offset += iov[i].iov_len;
    }
    return MODTGT_STS_OK;
  }

  int Write(modtgt_io*, const iovec* iov, int iovcnt, uint64_t offset, uint32_t flags) {
    // The write buffers belong to the daemon and must not be changed: XOR a copy.
    std::vector<uint8_t> buf;  // std::bad_alloc -> the trampoline reports a write error
    for (int i = 0; i < iovcnt; i++) {
      const auto* src = static_cast<const uint8_t*>(iov[i].iov_base);
      buf.assign(src, src + iov[i].iov_len);
      Xor(buf.data(), buf.size(), offset, key_);
      if (!WriteFully(buf.data(), buf.size(), offset)) return MODTGT_STS_WRITE_ERROR;
      offset += iov[i].iov_len;
    }
    if ((flags & MODTGT_IO_FUA) && fdatasync(fd_) != 0) return MODTGT_STS_WRITE_ERROR;
    return MODTGT_STS_OK;
  }

  int Flush(modtgt_io*) { return fdatasync(fd_) == 0 ? MODTGT_STS_OK : MODTGT_STS_WRITE_ERROR; }

 private:
  bool ReadFully(uint8_t* p, size_t len, uint64_t offset) {
    while (len > 0) {
      ssize_t n = pread(fd_, p, len, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        modtgt::Log(MODTGT_LOG_ERROR, "example_cxx: read at %llu: %s",
                    static_cast<unsigned long long>(offset), std::strerror(errno));
        return false;
      }
      if (n == 0) {  // the file shrank under us: what is past its end reads as zeros
        std::memset(p, 0, len);
        return true;
      }
      p += n;
      len -= static_cast<size_t>(n);
      offset += static_cast<uint64_t>(n);
    }
    return true;
  }

  bool WriteFully(const uint8_t* p, size_t len, uint64_t offset) {
    while (len > 0) {
      ssize_t n = pwrite(fd_, p, len, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        modtgt::Log(MODTGT_LOG_ERROR, "example_cxx: write at %llu: %s",
                    static_cast<unsigned long long>(offset),
                    n < 0 ? std::strerror(errno) : "no progress");
        return false;
      }
      p += n;
      len -= static_cast<size_t>(n);
      offset += static_cast<uint64_t>(n);
    }
    return true;
  }

  std::vector<uint8_t> key_;
  int fd_ = -1;
};

}  // namespace

MODTGT_REGISTER_BACKING_STORE(XorFile, "example_cxx", .version = "1.0.0",
                              .description = "example XOR-with-a-key file store (C++, out-of-tree SDK build)",
                              .cfg_desc = "path of an existing file; --bsopts key=<hex bytes>",
                              .nr_threads = 4)
