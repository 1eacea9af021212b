// SPDX-License-Identifier: Apache-2.0
// The Prometheus endpoint. See metrics_server.h.
#include "admin/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "common/log.h"

namespace modtgt::admin {

namespace {

constexpr int kRequestTimeoutMs = 2000;
constexpr size_t kMaxRequestHead = 8192;

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

Status Parse(const std::string& address, sockaddr_storage* ss, socklen_t* len, bool* loopback) {
  std::string host, port;
  if (!address.empty() && address[0] == '[') {
    size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return Status::InvalidArgument("bad metrics address '" + address + "' (want [ADDR]:PORT)");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos) {
      return Status::InvalidArgument("bad metrics address '" + address + "' (want ADDR:PORT)");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    return Status::InvalidArgument("bad port in metrics address '" + address + "'");
  }
  const uint16_t p = static_cast<uint16_t>(std::stoul(port));
  std::memset(ss, 0, sizeof(*ss));
  auto* a4 = reinterpret_cast<sockaddr_in*>(ss);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(p);
    *len = sizeof(sockaddr_in);
    *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    return Status::OK();
  }
  if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(p);
    *len = sizeof(sockaddr_in6);
    *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
    return Status::OK();
  }
  return Status::InvalidArgument("bad address in metrics address '" + address + "'");
}

std::string Format(const sockaddr_storage& ss) {
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

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  int64_t deadline = NowMs() + kRequestTimeoutMs;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int64_t left = deadline - NowMs();
      if (left <= 0) return;
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, static_cast<int>(left));
      continue;
    }
    return;
  }
}

std::string Reply(int code, const char* reason, const std::string& type, const std::string& body) {
  return "HTTP/1.0 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

Status CheckMetricsAddress(const std::string& address, bool allow_remote) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  bool loopback = false;
  MODTGT_RETURN_IF_ERROR(Parse(address, &ss, &len, &loopback));
  if (!loopback && !allow_remote) {
    return Status::InvalidArgument(
        "metrics address " + address +
        " is not a loopback address: the endpoint has no authentication and shows target and "
        "initiator names; use 127.0.0.1 or [::1], or add --metrics-allow-remote");
  }
  return Status::OK();
}

struct MetricsServer::Impl {
  Collector collect;
  int listen_fd = -1;
  int stop_fd = -1;
  std::string address;
  std::thread thread;

  void Serve(int fd) {
    std::string head;
    char buf[2048];
    int64_t deadline = NowMs() + kRequestTimeoutMs;
    while (head.find("\r\n\r\n") == std::string::npos && head.find("\n\n") == std::string::npos) {
      int64_t left = deadline - NowMs();
      if (left <= 0 || head.size() > kMaxRequestHead) return;
      pollfd p[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
      if (poll(p, 2, static_cast<int>(left)) < 0 && errno != EINTR) return;
      if (p[1].revents & POLLIN) return;
      if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    size_t eol = head.find_first_of("\r\n");
    std::string line = head.substr(0, eol);
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
    if (sp1 == std::string::npos) {
      WriteAll(fd, Reply(400, "Bad Request", "text/plain", "bad request\n"));
      return;
    }
    std::string method = line.substr(0, sp1);
    std::string path = line.substr(sp1 + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp1 - 1);
    if (method != "GET" && method != "HEAD") {
      WriteAll(fd, Reply(405, "Method Not Allowed", "text/plain", "only GET\n"));
      return;
    }
    if (path != "/metrics" && path.rfind("/metrics?", 0) != 0) {
      WriteAll(fd, Reply(404, "Not Found", "text/plain", "the metrics are at /metrics\n"));
      return;
    }
    std::string body = collect();
    std::string r = Reply(200, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
    if (method == "HEAD") r.resize(r.size() - body.size());
    WriteAll(fd, r);
  }

  void Run() {
    for (;;) {
      pollfd p[2] = {{listen_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
      int r = poll(p, 2, -1);
      if (r < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (p[1].revents & POLLIN) return;
      if (!(p[0].revents & POLLIN)) continue;
      int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) continue;
      Serve(fd);
      close(fd);
    }
  }
};

MetricsServer::MetricsServer(Collector collect) : impl_(std::make_unique<Impl>()) {
  impl_->collect = std::move(collect);
}

MetricsServer::~MetricsServer() {
  Stop();
  if (impl_->listen_fd >= 0) close(impl_->listen_fd);
  if (impl_->stop_fd >= 0) close(impl_->stop_fd);
}

Status MetricsServer::Start(const std::string& address, bool allow_remote) {
  MODTGT_RETURN_IF_ERROR(CheckMetricsAddress(address, allow_remote));
  sockaddr_storage ss{};
  socklen_t len = 0;
  bool loopback = false;
  MODTGT_RETURN_IF_ERROR(Parse(address, &ss, &len, &loopback));
  impl_->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl_->stop_fd < 0) return Status::FromErrno(errno, "eventfd");
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 16) != 0) {
    int e = errno;
    close(fd);
    return Status::FromErrno(e, "metrics: listen on " + address);
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  impl_->listen_fd = fd;
  impl_->address = Format(bound);
  impl_->thread = std::thread([this] { impl_->Run(); });
  return Status::OK();
}

const std::string& MetricsServer::address() const { return impl_->address; }

void MetricsServer::Stop() {
  if (!impl_->thread.joinable()) return;
  uint64_t one = 1;
  ssize_t n = write(impl_->stop_fd, &one, sizeof(one));
  (void)n;
  impl_->thread.join();
}

}  // namespace modtgt::admin
