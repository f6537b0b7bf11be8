#include "hailo_device_plugin/http_server.h"

#include <httplib.h>

#include <charconv>

#include "hailo_device_plugin/strings.h"

namespace hailo_dp {
namespace {

absl::Status SplitAddress(const std::string& address, std::string* host, int* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        Cat("http address '", address, "' must be host:port or :port"));
  }
  std::string_view port_text = std::string_view(address).substr(colon + 1);
  auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), *port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || *port < 0 ||
      *port > 65535) {
    return absl::InvalidArgumentError(Cat("http address '", address, "': bad port"));
  }
  *host = address.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  if (host->empty()) *host = "0.0.0.0";
  return absl::OkStatus();
}

void Probe(const std::function<absl::Status()>& check, httplib::Response& res) {
  absl::Status status = check ? check() : absl::OkStatus();
  res.status = status.ok() ? 200 : 503;
  res.set_content(status.ok() ? "ok\n" : Str(status.message()) + "\n", "text/plain");
}

}  // namespace

HttpServer::HttpServer(HttpHandlers handlers)
    : handlers_(std::move(handlers)), server_(std::make_unique<httplib::Server>()) {
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(handlers_.metrics ? handlers_.metrics() : "",
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    Probe(handlers_.healthz, res);
  });
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    Probe(handlers_.readyz, res);
  });
}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start(const std::string& address) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitAddress(address, &host, &port); !s.ok()) return s;
  int bound = port == 0 ? server_->bind_to_any_port(host)
                        : (server_->bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    return absl::UnavailableError(
        Cat("http address '", address, "': cannot listen (in use?)"));
  }
  port_ = bound;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace hailo_dp
