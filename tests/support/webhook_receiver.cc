#include "tests/support/webhook_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cctype>
#include <cstring>
#include <string>

namespace keygate::test {
namespace {

constexpr size_t kMaxRequestBytes = 1 << 20;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

}  // namespace

WebhookReceiver::~WebhookReceiver() {
  Stop();
  SSL_CTX_free(tls_);
}

int WebhookReceiver::StartTls(const std::string& cert_file,
                              const std::string& key_file, int port) {
  Stop();
  // OpenSSL writes to the socket with send() without MSG_NOSIGNAL: a client
  // that hung up must not kill the test process.
  ::signal(SIGPIPE, SIG_IGN);
  SSL_CTX_free(tls_);
  tls_ = SSL_CTX_new(TLS_server_method());
  if (tls_ == nullptr ||
      SSL_CTX_set_min_proto_version(tls_, TLS1_2_VERSION) != 1 ||
      SSL_CTX_use_certificate_file(tls_, cert_file.c_str(),
                                   SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_use_PrivateKey_file(tls_, key_file.c_str(), SSL_FILETYPE_PEM) !=
          1) {
    SSL_CTX_free(tls_);
    tls_ = nullptr;
    return -1;
  }
  return Start(port);
}

int WebhookReceiver::Start(int port) {
  Stop();
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 64) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  listen_fd_ = fd;
  stopping_.store(false);
  accept_thread_ = std::thread([this, fd] { AcceptLoop(fd); });
  return port_;
}

void WebhookReceiver::Stop() {
  if (!accept_thread_.joinable()) return;
  stopping_.store(true);
  accept_thread_.join();
  ::close(listen_fd_);
  listen_fd_ = -1;
}

std::string WebhookReceiver::Url(const std::string& path) const {
  return std::string(tls_ != nullptr ? "https" : "http") + "://127.0.0.1:" +
         std::to_string(port_) + path;
}

std::vector<ReceivedWebhook> WebhookReceiver::Received() const {
  std::lock_guard<std::mutex> lock(mu_);
  return received_;
}

size_t WebhookReceiver::Count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return received_.size();
}

void WebhookReceiver::AcceptLoop(int listen_fd) {
  while (!stopping_.load()) {
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    // One at a time: deliveries to one endpoint are sequential anyway.
    Serve(fd);
    ::close(fd);
  }
}

void WebhookReceiver::Serve(int fd) {
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  SSL* ssl = nullptr;
  if (tls_ != nullptr) {
    ssl = SSL_new(tls_);
    if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1) {
      tls_failures_.fetch_add(1);
      SSL_free(ssl);
      return;
    }
  }
  Serve(fd, ssl);
  SSL_free(ssl);  // no close_notify: the client reads up to the header only
}

void WebhookReceiver::Serve(int fd, SSL* ssl) {
  auto recv = [&](char* buf, size_t size) -> ssize_t {
    if (ssl == nullptr) return ::recv(fd, buf, size, 0);
    return SSL_read(ssl, buf, static_cast<int>(size));
  };
  auto send = [&](const std::string& data) {
    if (ssl == nullptr) {
      ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    } else {
      SSL_write(ssl, data.data(), static_cast<int>(data.size()));
    }
  };
  std::string data;
  char buf[4096];
  size_t header_end = std::string::npos;
  while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = recv(buf, sizeof buf);
    if (n <= 0 || data.size() > kMaxRequestBytes) return;
    data.append(buf, static_cast<size_t>(n));
  }
  ReceivedWebhook request;
  std::string head = data.substr(0, header_end);
  size_t line_end = head.find("\r\n");
  std::string request_line = head.substr(0, line_end);
  size_t sp1 = request_line.find(' ');
  size_t sp2 = request_line.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return;
  request.method = request_line.substr(0, sp1);
  request.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string::npos) end = head.size();
    std::string line = head.substr(pos, end - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      request.headers[Lower(line.substr(0, colon))] =
          Trim(line.substr(colon + 1));
    }
    pos = end + 2;
  }
  size_t length = 0;
  if (auto it = request.headers.find("content-length");
      it != request.headers.end()) {
    length = std::stoul(it->second);
  }
  if (length > kMaxRequestBytes) return;
  request.body = data.substr(header_end + 4);
  while (request.body.size() < length) {
    ssize_t n = recv(buf, sizeof buf);
    if (n <= 0) return;
    request.body.append(buf, static_cast<size_t>(n));
  }
  request.body.resize(length);
  if (long delay = delay_ms_.load(); delay > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
  }
  const int status = status_.load();
  {
    std::lock_guard<std::mutex> lock(mu_);
    received_.push_back(std::move(request));
  }
  std::string response = "HTTP/1.1 " + std::to_string(status) +
                         " X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
  send(response);
}

}  // namespace keygate::test
