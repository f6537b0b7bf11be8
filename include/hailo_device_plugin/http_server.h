// HttpServer: /metrics, /healthz and /readyz on one small HTTP listener
// (cpp-httplib), served from its own thread.
//
// The handlers are callbacks so the server knows nothing of the daemon.
// Start() binds (an error names the address) and returns once listening;
// Stop() is idempotent and the destructor calls it. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace httplib {
class Server;
}

namespace hailo_dp {

struct HttpHandlers {
  std::function<std::string()> metrics;
  // OK, or why the daemon is not healthy / not ready.
  std::function<absl::Status()> healthz;
  std::function<absl::Status()> readyz;
};

class HttpServer {
 public:
  explicit HttpServer(HttpHandlers handlers);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // `address` is "host:port" or ":port" (all interfaces); port 0 picks one.
  absl::Status Start(const std::string& address);
  void Stop();
  int port() const { return port_; }

 private:
  const HttpHandlers handlers_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace hailo_dp
