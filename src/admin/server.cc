// SPDX-License-Identifier: Apache-2.0
// AdminServer: the Unix-socket listener of the admin protocol. See server.h and
// docs/admin-protocol.md.
#include "admin/server.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "admin/protocol.h"
#include "core/strict_json.h"
#include "common/log.h"

namespace modtgt::admin {

namespace {

// A client gets this long to send its request line, and again to take the reply. Waiting
// clients cost nothing but a file descriptor: the server serves the others meanwhile.
constexpr int kRequestTimeoutMs = 10000;
// Connected clients at once; one more gets a busy reply.
constexpr size_t kMaxClients = 512;

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

std::string Serialize(const nlohmann::json& reply) {
  // replace: a message echoing invalid UTF-8 from a request must not throw.
  return reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

// One admin client: its request being read, then its reply being written.
struct Client {
  int fd = -1;
  std::string in;           // bytes of the request line so far
  std::string out;          // the reply, once there is one
  size_t out_off = 0;
  int64_t deadline_ms = 0;  // to finish sending the request, then to take the reply
  bool replying = false;
};

struct AdminServer::Impl {
  AdminContext ctx;
  int listen_fd = -1;
  int stop_fd = -1;
  int epoll_fd = -1;
  std::string path;
  std::map<int, Client> clients;  // by fd; admin thread only

  // Who may administer: root, the daemon's own user, or a member of the admin group.
  // Returns "" when allowed, else why not.
  std::string CheckPeer(int fd) {
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      return "cannot read peer credentials";
    }
    if (cred.uid == 0 || cred.uid == geteuid()) return "";
    if (ctx.admin_gid >= 0) {
      if (cred.gid == static_cast<gid_t>(ctx.admin_gid)) return "";
      gid_t groups[256];
      socklen_t glen = sizeof(groups);
      if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0) {
        for (size_t i = 0; i < glen / sizeof(gid_t); i++) {
          if (groups[i] == static_cast<gid_t>(ctx.admin_gid)) return "";
        }
      }
    }
    LOG_WARN("admin: refused a request from uid %u pid %d", static_cast<unsigned>(cred.uid),
             static_cast<int>(cred.pid));
    return "permission denied: uid " + std::to_string(cred.uid) + " may not administer modtgtd (" +
           (ctx.admin_gid >= 0 ? "root or the admin group only" : "root only") + ")";
  }

  void Watch(int fd, uint32_t events, bool add) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0) {
      LOG_WARN("admin: epoll_ctl: %s", strerror(errno));
    }
  }

  void Drop(int fd) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    clients.erase(fd);
  }

  // Queues `reply` for the client and switches it to writing (the connection closes once
  // the reply is out).
  void Reply(Client* c, const nlohmann::json& reply) {
    c->out = Serialize(reply);
    c->out_off = 0;
    c->replying = true;
    c->deadline_ms = NowMs() + kRequestTimeoutMs;
    Watch(c->fd, EPOLLOUT, false);
    Write(c);
  }

  void Accept() {
    for (;;) {
      int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
          LOG_WARN("admin: accept: %s", strerror(errno));
        }
        return;
      }
      Client& c = clients[fd];
      c.fd = fd;
      c.deadline_ms = NowMs() + kRequestTimeoutMs;
      Watch(fd, EPOLLIN, true);
      if (clients.size() > kMaxClients) {
        Reply(&c, ErrorReply(ErrorCode::kBusy, "too many admin connections (" +
                                                   std::to_string(kMaxClients) + "); retry"));
        continue;
      }
      std::string refused = CheckPeer(fd);
      if (!refused.empty()) Reply(&c, ErrorReply(ErrorCode::kPermission, refused));
    }
  }

  void Read(Client* c) {
    char buf[65536];
    for (;;) {
      ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        Drop(c->fd);
        return;
      }
      if (n == 0) {  // EOF: a last line without '\n' is still a request
        if (c->in.empty()) {
          Drop(c->fd);
        } else {
          Handle(c);
        }
        return;
      }
      const char* nl = static_cast<const char*>(std::memchr(buf, '\n', static_cast<size_t>(n)));
      size_t take = nl ? static_cast<size_t>(nl - buf) : static_cast<size_t>(n);
      if (c->in.size() + take > kMaxRequestBytes) {
        Reply(c, ErrorReply(ErrorCode::kInvalidRequest, "request larger than " +
                                                          std::to_string(kMaxRequestBytes) +
                                                          " bytes"));
        return;
      }
      c->in.append(buf, take);
      if (nl != nullptr) {
        Handle(c);
        return;
      }
    }
  }

  void Handle(Client* c) {
    std::string& line = c->in;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // Strict: a duplicate key would otherwise be accepted with the last value winning.
    Result<nlohmann::json> request = core::ParseJsonStrict(line);
    if (!request.ok()) {
      Reply(c, ErrorReply(ErrorCode::kInvalidRequest,
                          "request is not valid JSON: " + request.status().message()));
      return;
    }
    Reply(c, HandleRequest(&ctx, *request));
  }

  void Write(Client* c) {
    while (c->out_off < c->out.size()) {
      ssize_t n = send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        c->out_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT later
      break;
    }
    Drop(c->fd);
  }

  // Drops the clients past their deadline (an idle or slow client never holds up
  // another); returns the epoll timeout until the next deadline.
  int ExpireAndTimeout() {
    const int64_t now = NowMs();
    int64_t next = -1;
    std::vector<int> late;
    for (auto& [fd, c] : clients) {
      if (c.deadline_ms <= now) {
        late.push_back(fd);
      } else if (next < 0 || c.deadline_ms < next) {
        next = c.deadline_ms;
      }
    }
    for (int fd : late) {
      Client& c = clients[fd];
      if (!c.replying) {
        // Best effort, without waiting: the client may not be reading.
        std::string msg = Serialize(ErrorReply(ErrorCode::kInvalidRequest,
                                               "timed out waiting for the request line"));
        ssize_t n = send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n;
      }
      Drop(fd);
    }
    return next < 0 ? -1 : static_cast<int>(std::max<int64_t>(0, next - now));
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
    const std::string dir = path.substr(0, slash);
    // Folders it creates: 0700 (0750 with an admin group, which then owns them).
    MODTGT_RETURN_IF_ERROR(MakeDirs(dir, impl_->ctx.admin_gid >= 0 ? 0750 : 0700));
    struct stat dst {};
    if (stat(dir.c_str(), &dst) == 0 && (dst.st_mode & 0022) != 0 && !(dst.st_mode & S_ISVTX)) {
      LOG_WARN("admin: the socket's folder %s is writable by others (mode %03o): anyone can "
               "replace the socket; use a private folder",
               dir.c_str(), static_cast<unsigned>(dst.st_mode & 0777));
    }
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
  // 0600; with an admin group, 0660 and owned by that group (the peer is checked anyway).
  const bool group = impl_->ctx.admin_gid >= 0;
  if ((group && chown(path.c_str(), static_cast<uid_t>(-1),
                      static_cast<gid_t>(impl_->ctx.admin_gid)) != 0) ||
      chmod(path.c_str(), group ? 0660 : 0600) != 0) {
    int e = errno;
    close(fd);
    unlink(path.c_str());
    return Status::FromErrno(e, "chmod " + path);
  }
  if (listen(fd, 128) != 0) {
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
  Impl& m = *impl_;
  if (m.listen_fd < 0) return;
  m.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (m.epoll_fd < 0) {
    LOG_ERROR("admin: epoll_create1: %s", strerror(errno));
    return;
  }
  m.Watch(m.listen_fd, EPOLLIN, true);
  m.Watch(m.stop_fd, EPOLLIN, true);
  epoll_event events[64];
  bool stopping = false;
  while (!stopping) {
    int n = epoll_wait(m.epoll_fd, events, 64, m.ExpireAndTimeout());
    if (n < 0) {
      if (errno == EINTR) continue;
      LOG_ERROR("admin: epoll_wait: %s", strerror(errno));
      break;
    }
    for (int i = 0; i < n; i++) {
      const int fd = events[i].data.fd;
      if (fd == m.stop_fd) {
        stopping = true;
      } else if (fd == m.listen_fd) {
        m.Accept();
      } else {
        auto it = m.clients.find(fd);
        if (it == m.clients.end()) continue;  // dropped earlier in this batch
        Client* c = &it->second;
        if (c->replying) {
          m.Write(c);
        } else if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
          m.Read(c);
        }
      }
    }
  }
  std::vector<int> fds;
  for (const auto& [fd, c] : m.clients) fds.push_back(fd);
  for (int fd : fds) m.Drop(fd);
  close(m.epoll_fd);
  m.epoll_fd = -1;
}

void AdminServer::Stop() {
  uint64_t one = 1;
  ssize_t n = write(impl_->stop_fd, &one, sizeof(one));
  (void)n;
}

}  // namespace modtgt::admin
