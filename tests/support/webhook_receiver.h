// tests/support/webhook_receiver.h: a loopback HTTP receiver of webhook
// deliveries for tests.
//
// WebhookReceiver listens on 127.0.0.1 (a free port, or a given one), reads
// each request (headers, then a Content-Length body; at most 1 MiB), records
// it, and answers with the configured status and "Connection: close". Stop
// closes the listening socket (connections are then refused) and Start
// binds the same port again, to model a receiver that is down then up. An
// optional per-request delay models a slow receiver. StartTls serves the
// same over TLS with a given certificate (tests/support/test_pki.h);
// connections whose handshake fails are counted and dropped. Thread-safe.
#ifndef KEYGATE_TESTS_SUPPORT_WEBHOOK_RECEIVER_H_
#define KEYGATE_TESTS_SUPPORT_WEBHOOK_RECEIVER_H_

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <openssl/ssl.h>

namespace keygate::test {

// ReceivedWebhook is one request as the receiver read it.
struct ReceivedWebhook {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class WebhookReceiver {
 public:
  WebhookReceiver() = default;
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  // Start listens on `port` (0: a free one) and returns the port, or -1.
  int Start(int port = 0);
  // StartTls is Start over TLS (1.2 or 1.3) with the PEM certificate and
  // key given; the same mode across later Start calls. -1 on failure.
  int StartTls(const std::string& cert_file, const std::string& key_file,
               int port = 0);
  // Stop stops listening and joins the accept thread.
  void Stop();

  // SetStatus sets the status of later answers (default 200).
  void SetStatus(int status) { status_.store(status); }
  // SetDelay delays each answer (default none).
  void SetDelay(std::chrono::milliseconds delay) { delay_ms_.store(delay.count()); }

  int port() const { return port_; }
  std::string Url(const std::string& path = "/hook") const;
  std::vector<ReceivedWebhook> Received() const;
  size_t Count() const;
  // TlsHandshakeFailures counts TLS connections dropped in the handshake.
  size_t TlsHandshakeFailures() const { return tls_failures_.load(); }

 private:
  void AcceptLoop(int listen_fd);
  void Serve(int fd);
  void Serve(int fd, SSL* ssl);  // ssl null: plain

  int port_ = 0;
  int listen_fd_ = -1;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> status_{200};
  std::atomic<long> delay_ms_{0};
  std::atomic<size_t> tls_failures_{0};
  SSL_CTX* tls_ = nullptr;  // owned; null: plain HTTP
  mutable std::mutex mu_;
  std::vector<ReceivedWebhook> received_;
};

}  // namespace keygate::test

#endif  // KEYGATE_TESTS_SUPPORT_WEBHOOK_RECEIVER_H_
