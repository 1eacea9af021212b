// SPDX-License-Identifier: Apache-2.0
#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace modtgt {

namespace {

std::atomic<unsigned> g_tmp_counter{0};

std::string TempName(const std::string& path) {
  return path + ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(g_tmp_counter++);
}

Status WriteAll(int fd, std::string_view data, const std::string& name) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + name);
    }
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

Status SyncFolder(const std::string& folder) {
  int fd = open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open folder " + folder);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return Status::FromErrno(err, "fsync folder " + folder);
  return Status::OK();
}

}  // namespace

std::string ParentFolder(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status MakeFolders(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0) {
    return S_ISDIR(st.st_mode) ? Status::OK() : Status::InvalidArgument(dir + " is not a folder");
  }
  if (dir != "/" && dir != ".") MODTGT_RETURN_IF_ERROR(MakeFolders(ParentFolder(dir)));
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "create folder " + dir);
  }
  return Status::OK();
}

Status RemoveFileDurably(const std::string& path) {
  if (unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::OK();
    return Status::FromErrno(errno, "remove " + path);
  }
  return SyncFolder(ParentFolder(path));
}

Status WriteFileAtomic(const std::string& path, std::string_view data,
                       const AtomicWriteOptions& options) {
  const std::string tmp = TempName(path);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, options.mode);
  if (fd < 0) return Status::FromErrno(errno, "create " + tmp);
  Status s = WriteAll(fd, data, tmp);
  if (s.ok() && fchmod(fd, options.mode) != 0) s = Status::FromErrno(errno, "chmod " + tmp);
  if (s.ok() && fsync(fd) != 0) s = Status::FromErrno(errno, "fsync " + tmp);
  if (close(fd) != 0 && s.ok()) s = Status::FromErrno(errno, "close " + tmp);
  if (s.ok() && !options.keep_previous_as.empty()) {
    // path -> keep_previous_as, atomically, while path itself stays in place.
    const std::string prev_tmp = TempName(options.keep_previous_as);
    if (link(path.c_str(), prev_tmp.c_str()) == 0) {
      if (rename(prev_tmp.c_str(), options.keep_previous_as.c_str()) != 0) {
        s = Status::FromErrno(errno, "rename " + prev_tmp + " to " + options.keep_previous_as);
        unlink(prev_tmp.c_str());
      }
    } else if (errno != ENOENT) {
      s = Status::FromErrno(errno, "link " + path + " to " + prev_tmp);
    }
  }
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::FromErrno(errno, "rename " + tmp + " to " + path);
  }
  if (!s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  return SyncFolder(ParentFolder(path));
}

Result<std::string> ReadWholeFile(const std::string& path, size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound(path + " does not exist");
    return Status::FromErrno(err, "open " + path);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Status::InvalidArgument(path + " is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    close(fd);
    return Status::InvalidArgument(path + " is " + std::to_string(st.st_size) +
                                   " bytes, more than the " + std::to_string(max_bytes) +
                                   " allowed");
  }
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return Status::FromErrno(err, "read " + path);
    }
    if (n == 0) break;  // shrank meanwhile
    got += static_cast<size_t>(n);
  }
  close(fd);
  out.resize(got);
  return out;
}

}  // namespace modtgt
