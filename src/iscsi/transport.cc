// SPDX-License-Identifier: Apache-2.0
// IscsiTransport: listening sockets (portals), accepting and spreading connections across
// the event loops, the session table, and shutdown.
#include "iscsi/transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "common/log.h"
#include "core/stats.h"
#include "core/target.h"
#include "iscsi/connection.h"
#include "iscsi/session.h"

namespace modtgt::iscsi {

namespace {

constexpr uint16_t kDefaultTpgt = 1;

// Parses "A.B.C.D:PORT" or "[v6]:PORT" into a sockaddr.
Status ParsePortal(const std::string& portal, sockaddr_storage* ss, socklen_t* len) {
  std::string host, port;
  if (!portal.empty() && portal[0] == '[') {
    size_t close = portal.find(']');
    if (close == std::string::npos || close + 1 >= portal.size() || portal[close + 1] != ':') {
      return Status::InvalidArgument("bad portal '" + portal + "' (want [ADDR]:PORT)");
    }
    host = portal.substr(1, close - 1);
    port = portal.substr(close + 2);
  } else {
    size_t colon = portal.rfind(':');
    if (colon == std::string::npos) {
      return Status::InvalidArgument("bad portal '" + portal + "' (want ADDR:PORT)");
    }
    host = portal.substr(0, colon);
    port = portal.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) {
    return Status::InvalidArgument("bad port in portal '" + portal + "'");
  }
  unsigned long p = std::stoul(port);
  if (p > 65535) return Status::InvalidArgument("bad port in portal '" + portal + "'");
  std::memset(ss, 0, sizeof(*ss));
  auto* a4 = reinterpret_cast<sockaddr_in*>(ss);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(p));
    *len = sizeof(sockaddr_in);
    return Status::OK();
  }
  if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(p));
    *len = sizeof(sockaddr_in6);
    return Status::OK();
  }
  return Status::InvalidArgument("bad address in portal '" + portal + "'");
}

std::string FormatSockaddr(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    return std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
  inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
  return "[" + std::string(host) + "]:" + std::to_string(ntohs(a->sin6_port));
}

}  // namespace

struct IscsiTransport::Impl : public ConnectionHost {
  struct Listener : public env::EventHandler {
    Impl* impl = nullptr;
    int fd = -1;
    std::string address;
    bool registered = false;
    std::shared_ptr<scsi::IoCounters> stats;  // this portal's commands (may be null)
    void OnEvents(uint32_t events) override { impl->Accept(this); }
  };

  std::vector<env::EventLoop*> loops;
  core::TargetRegistry* registry;
  core::PortalStats* portal_stats = nullptr;
  TargetLimits limits_;
  SessionTable table;
  std::atomic<int64_t> in_core{0};
  std::atomic<bool> accepting{true};
  std::atomic<uint64_t> next_loop{0};
  bool shut_down = false;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<Listener>> listeners;     // GUARDED_BY(mu)
  std::set<std::shared_ptr<Connection>> connections;   // GUARDED_BY(mu)

  // ConnectionHost
  core::TargetRegistry* targets() override { return registry; }
  const TargetLimits& limits() override { return limits_; }
  SessionTable* sessions() override { return &table; }
  std::atomic<int64_t>& commands_in_core() override { return in_core; }

  void ConnectionFinished(Connection* conn) override {
    std::shared_ptr<Connection> sp;
    {
      std::lock_guard<std::mutex> l(mu);
      for (auto it = connections.begin(); it != connections.end(); ++it) {
        if (it->get() == conn) {
          sp = *it;
          connections.erase(it);
          break;
        }
      }
    }
    cv.notify_all();
    if (!sp) return;
    // Destroy two loop turns later: the current epoll batch may still name this handler.
    env::EventLoop* loop = conn->loop();
    loop->Post([loop, sp]() mutable { loop->Post([sp] {}); });
  }

  void Accept(Listener* li) {
    for (;;) {
      sockaddr_storage peer{};
      socklen_t len = sizeof(peer);
      int fd = accept4(li->fd, reinterpret_cast<sockaddr*>(&peer), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          LOG_WARN("iscsi: accept on %s: %s", li->address.c_str(), strerror(errno));
        }
        return;
      }
      if (!accepting.load()) {
        ::close(fd);
        continue;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      env::EventLoop* loop = loops[next_loop.fetch_add(1) % loops.size()];
      auto conn = std::make_shared<Connection>(this, loop, fd, kDefaultTpgt);
      conn->set_portal_stats(li->stats);
      {
        std::lock_guard<std::mutex> l(mu);
        connections.insert(conn);
      }
      LOG_DEBUG("iscsi: accepted %s on loop %d", conn->Describe().c_str(), loop->index());
      loop->Post([conn] { conn->Start(); });
    }
  }

  // Runs fn on loop and waits (bounded) for it. Runs inline if already on that loop.
  static bool RunOn(env::EventLoop* loop, std::function<void()> fn, int timeout_ms) {
    if (loop->InLoopThread()) {
      fn();
      return true;
    }
    auto done = std::make_shared<std::promise<void>>();
    std::future<void> f = done->get_future();
    loop->Post([fn = std::move(fn), done] {
      fn();
      done->set_value();
    });
    return f.wait_for(std::chrono::milliseconds(timeout_ms)) == std::future_status::ready;
  }

  bool OnAnyLoop() const {
    for (env::EventLoop* l : loops) {
      if (l->InLoopThread()) return true;
    }
    return false;
  }

  void StopListening() {
    accepting.store(false);
    std::vector<Listener*> ls;
    {
      std::lock_guard<std::mutex> l(mu);
      for (auto& li : listeners) ls.push_back(li.get());
    }
    for (Listener* li : ls) {
      if (li->fd < 0) continue;
      int fd = li->fd;
      bool reg = li->registered;
      env::EventLoop* loop = loops[0];
      bool ok = RunOn(loop, [loop, fd, reg] { if (reg) loop->Remove(fd); }, 2000);
      if (!ok) LOG_WARN("iscsi: loop 0 did not answer; closing listener anyway");
      ::close(fd);
      li->fd = -1;
    }
  }

  void CloseAll(const std::vector<std::shared_ptr<Connection>>& conns, const char* why) {
    for (const auto& c : conns) {
      c->loop()->Post([c, why] { c->Close(why); });
    }
  }
};

IscsiTransport::IscsiTransport(std::vector<env::EventLoop*> loops, core::TargetRegistry* targets,
                               TargetLimits limits)
    : impl_(std::make_unique<Impl>()) {
  impl_->loops = std::move(loops);
  assert(!impl_->loops.empty());
  impl_->registry = targets;
  impl_->limits_ = limits;
}

IscsiTransport::~IscsiTransport() {
  if (!impl_->shut_down) Shutdown();
}

Result<std::string> IscsiTransport::AddPortal(const std::string& portal) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  Status s = ParsePortal(portal, &ss, &len);
  if (!s.ok()) return s;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int e = errno;
    ::close(fd);
    return Status::FromErrno(e, "bind " + portal);
  }
  if (listen(fd, 128) != 0) {
    int e = errno;
    ::close(fd);
    return Status::FromErrno(e, "listen " + portal);
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  auto li = std::make_unique<Impl::Listener>();
  li->impl = impl_.get();
  li->fd = fd;
  li->address = FormatSockaddr(bound);
  if (impl_->portal_stats != nullptr) li->stats = impl_->portal_stats->For("iscsi", li->address);
  Impl::Listener* raw = li.get();
  std::string addr = li->address;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    impl_->listeners.push_back(std::move(li));
  }
  // Listening sockets live on the first loop; accepted connections go round robin.
  env::EventLoop* loop = impl_->loops[0];
  auto reg = [loop, raw] {
    if (raw->fd < 0) return;
    Status st = loop->Add(raw->fd, EPOLLIN, raw);
    if (!st.ok()) {
      LOG_ERROR("iscsi: cannot watch portal %s: %s", raw->address.c_str(), st.ToString().c_str());
    } else {
      raw->registered = true;
    }
  };
  if (loop->InLoopThread()) {
    reg();
  } else {
    loop->Post(reg);
  }
  LOG_INFO("iscsi: listening on %s", addr.c_str());
  return addr;
}

std::vector<std::string> IscsiTransport::portals() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  std::vector<std::string> out;
  for (const auto& li : impl_->listeners) {
    if (li->fd >= 0) out.push_back(li->address);
  }
  return out;
}

void IscsiTransport::StopListening() { impl_->StopListening(); }

void IscsiTransport::SetPortalStats(core::PortalStats* stats) { impl_->portal_stats = stats; }

Status IscsiTransport::RemovePortal(const std::string& portal) {
  Impl::Listener* li = nullptr;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    for (auto& x : impl_->listeners) {
      if (x->fd >= 0 && x->address == portal) li = x.get();
    }
  }
  if (li == nullptr) return Status::NotFound("no iscsi portal " + portal);
  // As StopListening, for one listener: it leaves the first loop, then closes. The
  // Listener object stays (its fd -1) so a stale epoll event cannot reach freed memory.
  int fd = li->fd;
  bool reg = li->registered;
  env::EventLoop* loop = impl_->loops[0];
  if (!Impl::RunOn(loop, [loop, fd, reg] { if (reg) loop->Remove(fd); }, 2000)) {
    LOG_WARN("iscsi: loop 0 did not answer; closing portal %s anyway", portal.c_str());
  }
  ::close(fd);
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    li->fd = -1;
  }
  if (impl_->portal_stats != nullptr) impl_->portal_stats->Forget("iscsi", portal);
  LOG_INFO("iscsi: no longer listening on %s", portal.c_str());
  return Status::OK();
}

Status IscsiTransport::CloseConnection(uint64_t nexus_id, uint32_t cid) {
  for (const auto& e : impl_->table.ForTarget(-1)) {
    if (e.session->discovery() || e.session->nexus().id != nexus_id) continue;
    if (e.connection_info.cid != cid) {
      return Status::NotFound("session " + std::to_string(nexus_id) + " has no connection " +
                              std::to_string(cid));
    }
    if (auto c = e.connection.lock()) {
      e.loop->Post([c] { c->Close("closed by the administrator"); });
      return Status::OK();
    }
    return Status::NotFound("connection " + std::to_string(cid) + " of session " +
                            std::to_string(nexus_id) + " is already closing");
  }
  return Status::NotFound("no session " + std::to_string(nexus_id));
}

std::vector<SessionInfo> IscsiTransport::Sessions() const { return impl_->table.List(); }

void IscsiTransport::CloseTargetSessions(int tid) {
  std::vector<SessionTable::Entry> entries = impl_->table.ForTarget(tid);
  for (const auto& e : entries) {
    if (auto c = e.connection.lock()) {
      e.loop->Post([c] { c->Close("target sessions closed"); });
    }
  }
  if (impl_->OnAnyLoop()) return;  // cannot wait for our own loop
  // Wait (bounded) until those sessions are gone from the table.
  for (int i = 0; i < 500 && !impl_->table.ForTarget(tid).empty(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void IscsiTransport::RequestLogout(int tid, uint16_t seconds) {
  for (const auto& e : impl_->table.ForTarget(tid)) {
    if (auto c = e.connection.lock()) {
      e.loop->Post([c, seconds] { c->RequestLogout(seconds); });
    }
  }
}

void IscsiTransport::Shutdown() {
  impl_->shut_down = true;
  impl_->StopListening();
  if (impl_->OnAnyLoop()) {
    // Called from a loop thread: cannot wait for loops; close everything and return.
    std::vector<std::shared_ptr<Connection>> conns;
    {
      std::lock_guard<std::mutex> l(impl_->mu);
      conns.assign(impl_->connections.begin(), impl_->connections.end());
    }
    impl_->CloseAll(conns, "shutdown");
    return;
  }
  // Let commands already in the core finish (bounded), so responses reach initiators.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (impl_->in_core.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::vector<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    conns.assign(impl_->connections.begin(), impl_->connections.end());
  }
  impl_->CloseAll(conns, "shutdown");
  conns.clear();
  std::unique_lock<std::mutex> l(impl_->mu);
  if (!impl_->cv.wait_for(l, std::chrono::seconds(10),
                          [this] { return impl_->connections.empty(); })) {
    LOG_WARN("iscsi: %zu connection(s) still open after shutdown",
             impl_->connections.size());
  }
}

bool IscsiTransport::WaitForConnectionsForTest(size_t count, int timeout_ms) {
  std::unique_lock<std::mutex> l(impl_->mu);
  return impl_->cv.wait_for(l, std::chrono::milliseconds(timeout_ms),
                            [this, count] { return impl_->connections.size() <= count; });
}

}  // namespace modtgt::iscsi
