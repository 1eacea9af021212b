// SPDX-License-Identifier: Apache-2.0
// MetricsServer: the optional Prometheus endpoint (modtgtd --metrics ADDR:PORT, off by
// default). A minimal HTTP/1.0 server: GET /metrics answers the text exposition format
// (core::PrometheusText); anything else gets 404 (405 for another method). One request per
// connection, served one at a time on the server's own thread, so a slow scraper cannot
// delay the admin socket or the I/O path (each client has 2 s to send its request line).
//
// Who may listen where: the endpoint has no authentication and shows target and initiator
// names, so by default only a loopback address (127.0.0.0/8, ::1) is accepted; another
// address needs allow_remote (modtgtd --metrics-allow-remote).
//
// Threading: Start/Stop from the main thread; the collector runs on the server's thread and
// must be thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"

namespace modtgt::admin {

class MetricsServer {
 public:
  using Collector = std::function<std::string()>;
  explicit MetricsServer(Collector collect);
  ~MetricsServer();  // Stop()s

  // Listens on "ADDR:PORT" ("127.0.0.1:9100", "[::1]:0": port 0 picks one) and starts the
  // thread. InvalidArgument for a bad address or a non-loopback one without allow_remote.
  Status Start(const std::string& address, bool allow_remote);
  // The bound "ADDR:PORT" after Start.
  const std::string& address() const;
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses "A.B.C.D:PORT" / "[v6]:PORT" and tells whether the address is a loopback one.
Status CheckMetricsAddress(const std::string& address, bool allow_remote);

}  // namespace modtgt::admin
