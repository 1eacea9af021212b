// SPDX-License-Identifier: Apache-2.0
// IscsiTransport: listening sockets (portals), accepting and spreading connections across
// the event loops, the session table, and shutdown.
#include "iscsi/transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "common/log.h"
#include "core/stats.h"
#include "core/target.h"
#include "iscsi/connection.h"
#include "iscsi/describe.h"
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

}  // namespace

struct IscsiTransport::Impl : public ConnectionHost {
  struct Listener : public env::EventHandler {
    Impl* impl = nullptr;
    int fd = -1;
    std::string address;
    bool registered = false;
    std::shared_ptr<scsi::IoCounters> stats;  // this portal's commands (may be null)
    uint64_t retry_timer = 0;  // re-arms accepting after EMFILE (loop 0 only)
    void OnEvents(uint32_t events) override { impl->Accept(this); }
  };

  // A connection and what the limits count it as.
  struct Record {
    std::shared_ptr<Connection> conn;
    std::string host;      // FormatHost(peer): the per-address key
    bool pending = true;   // not logged in yet (and not already dropped for room)
  };
  struct AddressCount {
    size_t total = 0;
    std::vector<Connection*> pending;  // at most max_pending_logins_per_address
  };

  std::vector<env::EventLoop*> loops;
  core::TargetRegistry* registry;
  core::PortalStats* portal_stats = nullptr;
  core::AccountRegistry* accounts_ = nullptr;
  TransportSettings settings;
  SessionTable table;
  std::atomic<int64_t> in_core{0};
  std::atomic<bool> accepting{true};
  std::atomic<uint64_t> next_loop{0};
  bool shut_down = false;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<Listener>> listeners;              // GUARDED_BY(mu)
  std::map<Connection*, Record> connections;                     // GUARDED_BY(mu)
  std::unordered_map<std::string, AddressCount> by_address;      // GUARDED_BY(mu)
  size_t pending_total = 0;                                      // GUARDED_BY(mu)
  // Refusals are logged at most once a second (a flood must not flood the log).
  uint64_t refusal_log_ms = 0;                                   // GUARDED_BY(mu)
  size_t refusals_unlogged = 0;                                  // GUARDED_BY(mu)

  // ConnectionHost
  core::TargetRegistry* targets() override { return registry; }
  core::AccountRegistry* accounts() override { return accounts_; }
  const TargetLimits& limits() override { return settings.negotiation; }
  const ResourceLimits& resources() override { return settings.resources; }
  SessionTable* sessions() override { return &table; }
  std::atomic<int64_t>& commands_in_core() override { return in_core; }

  // REQUIRES: mu held. Takes conn out of the pending counts.
  void ForgetPending(Record* r) {
    if (!r->pending) return;
    r->pending = false;
    pending_total--;
    auto it = by_address.find(r->host);
    if (it != by_address.end()) std::erase(it->second.pending, r->conn.get());
  }

  void LoginCompleted(Connection* conn) override {
    std::lock_guard<std::mutex> l(mu);
    auto it = connections.find(conn);
    if (it != connections.end()) ForgetPending(&it->second);
  }

  void ConnectionFinished(Connection* conn) override {
    std::shared_ptr<Connection> sp;
    {
      std::lock_guard<std::mutex> l(mu);
      auto it = connections.find(conn);
      if (it != connections.end()) {
        ForgetPending(&it->second);
        auto a = by_address.find(it->second.host);
        if (a != by_address.end() && --a->second.total == 0) by_address.erase(a);
        sp = std::move(it->second.conn);
        connections.erase(it);
      }
    }
    cv.notify_all();
    if (!sp) return;
    // Destroy two loop turns later: the current epoll batch may still name this handler.
    env::EventLoop* loop = conn->loop();
    loop->Post([loop, sp]() mutable { loop->Post([sp] {}); });
  }

  void LogDropped(const std::string& what) override {
    std::lock_guard<std::mutex> l(mu);
    LogRefusal(what);
  }

  // REQUIRES: mu held. Logs a refused or dropped connection, at most once a second.
  void LogRefusal(const std::string& what) {
    uint64_t now = env::EventLoop::NowMs();
    if (now - refusal_log_ms < 1000) {
      refusals_unlogged++;
      return;
    }
    LOG_WARN("iscsi: %s%s", what.c_str(),
             refusals_unlogged ? (" (and " + std::to_string(refusals_unlogged) +
                                  " more connections refused or dropped since the last "
                                  "such line)")
                                     .c_str()
                               : "");
    refusal_log_ms = now;
    refusals_unlogged = 0;
  }

  // REQUIRES: mu held. The pending connection of `a` that has been quiet longest: it is
  // dropped to make room (a login in progress talks every round trip; an idle one does not).
  static Connection* Quietest(const AddressCount& a) {
    Connection* best = nullptr;
    for (Connection* c : a.pending) {
      if (best == nullptr || c->login_activity_ms() < best->login_activity_ms()) best = c;
    }
    return best;
  }

  // REQUIRES: mu held. Decides about a new connection from `host`: false to refuse it;
  // otherwise fills *drop with a pending connection to close for room, if one must go.
  bool Admit(const std::string& host, std::shared_ptr<Connection>* drop) {
    const ResourceLimits& lim = settings.resources;
    if (connections.size() >= lim.max_connections) {
      LogRefusal("refusing a connection from " + host + ": " +
                 std::to_string(connections.size()) + " connections open (max_connections)");
      return false;
    }
    AddressCount& a = by_address[host];
    if (a.total >= lim.max_connections_per_address) {
      LogRefusal("refusing a connection from " + host + ": " + std::to_string(a.total) +
                 " connections from that address (max_connections_per_address)");
      return false;
    }
    const AddressCount* from = nullptr;
    std::string from_host;
    if (a.pending.size() >= lim.max_pending_logins_per_address) {
      from = &a;
      from_host = host;
    } else if (pending_total >= lim.max_pending_logins) {
      for (const auto& [h, c] : by_address) {
        if (from == nullptr || c.pending.size() > from->pending.size()) {
          from = &c;
          from_host = h;
        }
      }
    }
    if (from != nullptr && !from->pending.empty()) {
      Connection* victim = Quietest(*from);
      Record& r = connections.at(victim);
      *drop = r.conn;
      ForgetPending(&r);
      LogRefusal("dropping a connection from " + from_host +
                 " that has not logged in, to make room (" +
                 (from_host == host ? "max_pending_logins_per_address"
                                    : "max_pending_logins") +
                 ")");
    }
    return true;
  }

  void PauseAccepting(Listener* li) {
    // Out of file descriptors: the listening socket stays readable, so stop watching it for
    // a moment instead of spinning.
    env::EventLoop* loop = loops[0];
    Status s = loop->Modify(li->fd, 0, li);
    (void)s;
    li->retry_timer = loop->AddTimer(100, [this, li, loop] {
      li->retry_timer = 0;
      if (li->fd >= 0 && accepting.load()) {
        Status st = loop->Modify(li->fd, EPOLLIN, li);
        (void)st;
      }
    });
  }

  void Accept(Listener* li) {
    for (;;) {
      sockaddr_storage peer{};
      socklen_t len = sizeof(peer);
      int fd = accept4(li->fd, reinterpret_cast<sockaddr*>(&peer), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE) {
          {
            std::lock_guard<std::mutex> l(mu);
            LogRefusal("accept on " + li->address + ": " + strerror(errno) +
                       " (raise the open files limit or lower max_connections)");
          }
          PauseAccepting(li);
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
          LOG_WARN("iscsi: accept on %s: %s", li->address.c_str(), strerror(errno));
        }
        return;
      }
      if (!accepting.load()) {
        ::close(fd);
        continue;
      }
      const std::string host = FormatHost(reinterpret_cast<const sockaddr*>(&peer));
      std::shared_ptr<Connection> drop;
      std::shared_ptr<Connection> conn;
      env::EventLoop* loop = nullptr;
      {
        std::lock_guard<std::mutex> l(mu);
        if (!Admit(host, &drop)) {
          auto a = by_address.find(host);
          if (a != by_address.end() && a->second.total == 0) by_address.erase(a);
          ::close(fd);
          continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        loop = loops[next_loop.fetch_add(1) % loops.size()];
        conn = std::make_shared<Connection>(this, loop, fd, kDefaultTpgt);
        conn->set_portal_stats(li->stats);
        AddressCount& a = by_address[host];
        a.total++;
        a.pending.push_back(conn.get());
        pending_total++;
        connections.emplace(conn.get(), Record{conn, host, true});
      }
      if (drop) {
        drop->loop()->Post([drop] { drop->Close("dropped for room: never logged in"); });
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
      bool ok = RunOn(
          loop,
          [loop, fd, reg, li] {
            if (reg) loop->Remove(fd);
            if (li->retry_timer) loop->CancelTimer(li->retry_timer);
            li->retry_timer = 0;
          },
          2000);
      if (!ok) LOG_WARN("iscsi: loop 0 did not answer; closing listener anyway");
      ::close(fd);
      li->fd = -1;
    }
  }

  std::vector<std::shared_ptr<Connection>> AllConnections() {
    std::lock_guard<std::mutex> l(mu);
    std::vector<std::shared_ptr<Connection>> out;
    for (const auto& [p, r] : connections) out.push_back(r.conn);
    return out;
  }

  void CloseAll(const std::vector<std::shared_ptr<Connection>>& conns, const char* why) {
    for (const auto& c : conns) {
      c->loop()->Post([c, why] { c->CloseAndEndTasks(why); });
    }
  }
};

IscsiTransport::IscsiTransport(std::vector<env::EventLoop*> loops, core::TargetRegistry* targets,
                               core::AccountRegistry* accounts, TransportSettings settings)
    : impl_(std::make_unique<Impl>()) {
  impl_->loops = std::move(loops);
  assert(!impl_->loops.empty());
  impl_->registry = targets;
  impl_->accounts_ = accounts;
  impl_->settings = settings;
  // A target without its own MaxQueueCmd gets the whole session window.
  impl_->settings.negotiation.max_queue_cmd = settings.resources.max_cmds_per_session;
  impl_->table.set_max_sessions(settings.resources.max_sessions);
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur < settings.resources.max_connections + 64) {
    LOG_WARN("iscsi: max_connections is %u but the open files limit is %llu: connections "
             "beyond it are refused by the system (raise it: ulimit -n, LimitNOFILE=)",
             settings.resources.max_connections, static_cast<unsigned long long>(rl.rlim_cur));
  }
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
  li->address = FormatSockaddr(reinterpret_cast<const sockaddr*>(&bound));
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
    std::shared_ptr<Session> session = e.session;
    if (auto c = e.connection.lock()) {
      // Every connection of the session (MC/S), on the session's loop.
      e.loop->Post([c, session] {
        c->CloseAndEndTasks("target sessions closed");
        session->CloseConnections("target sessions closed");
        session->EndRetained();  // one waiting for connection recovery
      });
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
      std::shared_ptr<Session> session = e.session;
      e.loop->Post([c, session, seconds] {
        if (!c->closed()) session->RequestLogout(seconds);
      });
    }
  }
}

void IscsiTransport::Shutdown() {
  impl_->shut_down = true;
  impl_->StopListening();
  if (impl_->OnAnyLoop()) {
    // Called from a loop thread: cannot wait for loops; close everything and return.
    impl_->CloseAll(impl_->AllConnections(), "shutdown");
    return;
  }
  // Let commands already in the core finish (bounded), so responses reach initiators.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (impl_->in_core.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  impl_->CloseAll(impl_->AllConnections(), "shutdown");
  {
    std::unique_lock<std::mutex> l(impl_->mu);
    if (!impl_->cv.wait_for(l, std::chrono::seconds(10),
                            [this] { return impl_->connections.empty(); })) {
      LOG_WARN("iscsi: %zu connection(s) still open after shutdown",
               impl_->connections.size());
    }
  }
  // Sessions left without a connection, waiting for connection recovery (ERL 2), end now.
  for (const SessionTable::Entry& e : impl_->table.ForTarget(-1)) {
    std::shared_ptr<Session> s = e.session;
    if (e.loop != nullptr) Impl::RunOn(e.loop, [s] { s->EndRetained(); }, 5000);
  }
}

size_t IscsiTransport::ConnectionCountForTest() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->connections.size();
}

size_t IscsiTransport::PendingLoginCountForTest() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->pending_total;
}

bool IscsiTransport::WaitForConnectionsForTest(size_t count, int timeout_ms) {
  std::unique_lock<std::mutex> l(impl_->mu);
  return impl_->cv.wait_for(l, std::chrono::milliseconds(timeout_ms),
                            [this, count] { return impl_->connections.size() <= count; });
}

}  // namespace modtgt::iscsi
