// SPDX-License-Identifier: Apache-2.0
// AdminServer: the Unix-socket listener of the admin protocol. See server.h and
// docs/admin-protocol.md.
#include "admin/server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "admin/protocol.h"
#include "core/strict_json.h"
#include "common/log.h"

namespace modtgt::admin {

namespace {

// A client gets this long (in total) to send its request line, and to take the reply.
constexpr int kRequestTimeoutMs = 5000;

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// mkdir -p with mode for the created folders.
Status MakeDirs(const std::string& dir, mode_t mode) {
  if (dir.empty()) return Status::OK();
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty()) continue;
    if (mkdir(partial.c_str(), mode) != 0 && errno != EEXIST) {
      return Status::FromErrno(errno, "mkdir " + partial);
    }
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + dir);
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(dir + " is not a directory");
  return Status::OK();
}

// Writes all of buf, waiting (poll) up to the deadline. False on error or timeout.
bool WriteAll(int fd, const std::string& buf, int64_t deadline_ms) {
  size_t off = 0;
  while (off < buf.size()) {
    ssize_t n = send(fd, buf.data() + off, buf.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int64_t left = deadline_ms - NowMs();
      if (left <= 0) return false;
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) return false;
      continue;
    }
    return false;
  }
  return true;
}

std::string Serialize(const nlohmann::json& reply) {
  // replace: a message echoing invalid UTF-8 from a request must not throw.
  return reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

struct AdminServer::Impl {
  AdminContext ctx;
  int listen_fd = -1;
  int stop_fd = -1;
  std::string path;

  // Reads one line from fd into *line. Returns false (with *reply set to the error to send,
  // or empty when the peer just went away) on failure.
  bool ReadLine(int fd, std::string* line, nlohmann::json* reply) {
    int64_t deadline = NowMs() + kRequestTimeoutMs;
    char buf[4096];
    for (;;) {
      int64_t left = deadline - NowMs();
      if (left <= 0) {
        *reply = ErrorReply(ErrorCode::kInvalidRequest, "timed out waiting for the request line");
        return false;
      }
      pollfd p[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
      int r = poll(p, 2, static_cast<int>(left));
      if (r < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      if (p[1].revents & POLLIN) return false;  // shutting down
      if (r == 0) continue;                     // re-check the deadline
      ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        return false;
      }
      if (n == 0) {  // EOF: accept a last line without '\n'
        if (line->empty()) return false;
        return true;
      }
      const char* nl = static_cast<const char*>(std::memchr(buf, '\n', static_cast<size_t>(n)));
      size_t take = nl ? static_cast<size_t>(nl - buf) : static_cast<size_t>(n);
      if (line->size() + take > kMaxRequestBytes) {
        *reply = ErrorReply(ErrorCode::kInvalidRequest,
                            "request larger than " + std::to_string(kMaxRequestBytes) + " bytes");
        return false;
      }
      line->append(buf, take);
      if (nl) return true;
    }
  }

  void Serve(int fd) {
    // SO_PEERCRED: only root or the daemon's own user may administer it.
    ucred cred{};
    socklen_t len = sizeof(cred);
    int64_t deadline = NowMs() + kRequestTimeoutMs;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      WriteAll(fd, Serialize(ErrorReply(ErrorCode::kPermission, "cannot read peer credentials")),
               deadline);
      return;
    }
    if (cred.uid != 0 && cred.uid != geteuid()) {
      LOG_WARN("admin: refused a request from uid %u pid %d", static_cast<unsigned>(cred.uid),
               static_cast<int>(cred.pid));
      WriteAll(fd,
               Serialize(ErrorReply(ErrorCode::kPermission,
                                    "permission denied: uid " + std::to_string(cred.uid) +
                                        " may not administer modtgtd (root only)")),
               deadline);
      return;
    }
    std::string line;
    nlohmann::json reply;
    if (!ReadLine(fd, &line, &reply)) {
      if (!reply.is_null()) WriteAll(fd, Serialize(reply), NowMs() + kRequestTimeoutMs);
      return;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // Strict: a duplicate key would otherwise be accepted with the last value winning.
    Result<nlohmann::json> request = core::ParseJsonStrict(line);
    if (!request.ok()) {
      reply = ErrorReply(ErrorCode::kInvalidRequest,
                         "request is not valid JSON: " + request.status().message());
    } else {
      reply = HandleRequest(&ctx, *request);
    }
    WriteAll(fd, Serialize(reply), NowMs() + kRequestTimeoutMs);
  }
};

AdminServer::AdminServer(AdminContext ctx) : impl_(std::make_unique<Impl>()) {
  impl_->ctx = std::move(ctx);
  impl_->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

AdminServer::~AdminServer() {
  if (impl_->listen_fd >= 0) close(impl_->listen_fd);
  if (impl_->stop_fd >= 0) close(impl_->stop_fd);
}

Status AdminServer::Listen(const std::string& path) {
  if (impl_->stop_fd < 0) return Status::FromErrno(errno, "eventfd");
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument("socket path '" + path + "' is empty or too long (max " +
                                   std::to_string(sizeof(addr.sun_path) - 1) + " bytes)");
  }
  size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    MODTGT_RETURN_IF_ERROR(MakeDirs(path.substr(0, slash), 0755));
  }
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::AlreadyExists(path + " exists and is not a socket; not removing it");
    }
    // A live daemon answers on it; a stale socket refuses the connection.
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0) {
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::memcpy(a.sun_path, path.c_str(), path.size());
      int rc = connect(probe, reinterpret_cast<sockaddr*>(&a), sizeof(a));
      close(probe);
      if (rc == 0) return Status::Busy("another modtgtd is listening on " + path);
    }
    unlink(path.c_str());
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  // Create the socket node with no access for others from the start (umask), then chmod.
  mode_t old_mask = umask(0177);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int bind_errno = errno;
  umask(old_mask);
  if (rc != 0) {
    close(fd);
    return Status::FromErrno(bind_errno, "bind " + path);
  }
  if (chmod(path.c_str(), 0600) != 0) {
    int e = errno;
    close(fd);
    unlink(path.c_str());
    return Status::FromErrno(e, "chmod " + path);
  }
  if (listen(fd, 16) != 0) {
    int e = errno;
    close(fd);
    unlink(path.c_str());
    return Status::FromErrno(e, "listen " + path);
  }
  if (impl_->listen_fd >= 0) close(impl_->listen_fd);
  impl_->listen_fd = fd;
  impl_->path = path;
  return Status::OK();
}

void AdminServer::Run() {
  if (impl_->listen_fd < 0) return;
  for (;;) {
    pollfd p[2] = {{impl_->listen_fd, POLLIN, 0}, {impl_->stop_fd, POLLIN, 0}};
    int r = poll(p, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      LOG_ERROR("admin: poll: %s", strerror(errno));
      return;
    }
    if (p[1].revents & POLLIN) return;
    if (!(p[0].revents & POLLIN)) continue;
    int fd = accept4(impl_->listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        LOG_WARN("admin: accept: %s", strerror(errno));
      }
      continue;
    }
    impl_->Serve(fd);
    close(fd);
  }
}

void AdminServer::Stop() {
  uint64_t one = 1;
  ssize_t n = write(impl_->stop_fd, &one, sizeof(one));
  (void)n;
}

}  // namespace modtgt::admin
