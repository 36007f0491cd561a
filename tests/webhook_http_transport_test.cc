// tests/webhook_http_transport_test.cc: serve's webhook transport
// (tools/keygate/webhook_http_transport.h) over real loopback TLS, with
// certificates made at run time (tests/support/test_pki.h): a receiver
// whose chain and subjectAltName check out gets the request, signature
// headers and all; an untrusted chain, a wrong name, a CN-only
// certificate, an expired one, a receiver demanding a client certificate
// give kTls and no request; a handshake that
// never completes and a resolver that never answers give kTimeout within
// about the timeout; a refused target is refused before any connection; a
// receiver that offers only an older protocol or a weaker cipher suite
// gives kTls (no downgrade).
#include "tools/keygate/webhook_http_transport.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <openssl/ssl.h>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/support/test_pki.h"
#include "tests/support/webhook_receiver.h"
#include "tools/keygate/webhook_tls_context.h"

namespace keygate {
namespace {

using tool::WebhookHttpTransport;
using tool::WebhookHttpTransportOptions;
using tool::WebhookTlsContext;

// ListeningSocket listens on 127.0.0.1 and never accepts: the kernel
// completes TCP handshakes into the backlog, nobody ever answers.
class ListeningSocket {
 public:
  ListeningSocket() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 8) != 0) {
      return;
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~ListeningSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int port() const { return port_; }
  // HasPendingConnection: did anyone connect (is the backlog non-empty)?
  bool HasPendingConnection() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// OneShotTlsServer listens on 127.0.0.1, accepts one connection (waiting
// at most 20 s for it) and runs a server TLS handshake with `cert` and
// whatever `configure` sets on its context; Handshaken says whether that
// handshake completed.
class OneShotTlsServer {
 public:
  OneShotTlsServer(const test::TestCertificate& cert,
                   const std::function<bool(SSL_CTX*)>& configure) {
    // OpenSSL writes with send() without MSG_NOSIGNAL: a client that hung
    // up must not kill the test process.
    ::signal(SIGPIPE, SIG_IGN);
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (ctx_ == nullptr ||
        SSL_CTX_use_certificate_file(ctx_, cert.cert_file.c_str(),
                                     SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx_, cert.key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1 ||
        !configure(ctx_)) {
      return;
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 8) != 0) {
      return;
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneShotTlsServer() {
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  int port() const { return port_; }
  // Handshaken waits for the server to finish, then says whether the
  // handshake completed.
  bool Handshaken() {
    if (thread_.joinable()) thread_.join();
    return handshaken_;
  }

 private:
  void Serve() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) return;
    const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return;
    timeval tv{20, 0};
    ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL* ssl = SSL_new(ctx_);
    handshaken_ = ssl != nullptr && SSL_set_fd(ssl, conn) == 1 &&
                  SSL_accept(ssl) == 1;
    SSL_free(ssl);
    // Refused: read what the client still sends until it hangs up, so that
    // closing with unread data does not reset the connection under the
    // alert the client has yet to read.
    char sink[4096];
    while (!handshaken_ && ::recv(conn, sink, sizeof sink, 0) > 0) {
    }
    ::close(conn);
  }

  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  int port_ = 0;
  bool handshaken_ = false;
  std::thread thread_;
};

class WebhookHttpTransportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(
        (std::filesystem::temp_directory_path() /
         ("keygate_tls_test_" + std::to_string(::getpid())))
            .string());
    absl::StatusOr<test::TestPki> made = test::MakeTestPki(*dir_);
    ASSERT_TRUE(made.ok()) << made.status();
    pki_ = new test::TestPki(*std::move(made));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (dir_ != nullptr) std::filesystem::remove_all(*dir_, ec);
    delete pki_;
    delete dir_;
    pki_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(pki_, nullptr);
    absl::StatusOr<std::unique_ptr<WebhookTlsContext>> tls =
        WebhookTlsContext::Create(pki_->ca_file);
    ASSERT_TRUE(tls.ok()) << tls.status();
    tls_ = std::shared_ptr<WebhookTlsContext>(*std::move(tls));
  }
  void TearDown() override { receiver_.Stop(); }

  // Transport trusting the test CA; "localhost" resolves to 127.0.0.1
  // (counted), every other name to nothing.
  std::unique_ptr<WebhookHttpTransport> Transport() {
    WebhookHttpTransportOptions options;
    options.tls = tls_;
    auto resolutions = resolutions_;
    options.resolver = [resolutions](const std::string& host) {
      resolutions->fetch_add(1);
      return host == "localhost" ? std::vector<std::string>{"127.0.0.1"}
                                 : std::vector<std::string>{};
    };
    return std::make_unique<WebhookHttpTransport>(std::move(options));
  }
  WebhookRequest Request(const std::string& host, int port) {
    WebhookRequest request;
    request.url =
        "https://" + host + ":" + std::to_string(port) + "/hook?x=1";
    request.target_policy.allow_private_targets = true;  // loopback
    request.timeout = absl::Seconds(10);
    request.headers = {{"content-type", "application/json"},
                       {"webhook-id", "evt_123"},
                       {"webhook-timestamp", "1800000000"},
                       {"webhook-signature", "v1,c2lnbmF0dXJl"},
                       {"user-agent", "keygate-test"}};
    request.body = R"({"type":"service_account.created"})";
    return request;
  }
  // ExpectTls: a receiver with `cert` refuses verification: kTls, nothing
  // received.
  void ExpectTlsFailure(const test::TestCertificate& cert,
                        const std::string& host) {
    ASSERT_GT(receiver_.StartTls(cert.cert_file, cert.key_file), 0);
    WebhookResponse response =
        Transport()->Post(Request(host, receiver_.port()));
    EXPECT_EQ(response.error, WebhookDeliveryError::kTls) << host;
    EXPECT_EQ(response.http_status, 0);
    EXPECT_EQ(receiver_.Count(), 0u);
  }

  static std::string* dir_;
  static test::TestPki* pki_;
  std::shared_ptr<WebhookTlsContext> tls_;
  std::shared_ptr<std::atomic<int>> resolutions_ =
      std::make_shared<std::atomic<int>>(0);
  test::WebhookReceiver receiver_;
};

std::string* WebhookHttpTransportTest::dir_ = nullptr;
test::TestPki* WebhookHttpTransportTest::pki_ = nullptr;

TEST_F(WebhookHttpTransportTest, DeliversByNameOverVerifiedTls) {
  ASSERT_GT(receiver_.StartTls(pki_->localhost.cert_file,
                               pki_->localhost.key_file),
            0);
  WebhookResponse response =
      Transport()->Post(Request("localhost", receiver_.port()));
  EXPECT_EQ(response.error, WebhookDeliveryError::kNone);
  EXPECT_EQ(response.http_status, 200);
  EXPECT_EQ(resolutions_->load(), 1);
  ASSERT_EQ(receiver_.Count(), 1u);
  const test::ReceivedWebhook r = receiver_.Received()[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/hook?x=1");
  EXPECT_EQ(r.Header("host"), "localhost:" + std::to_string(receiver_.port()));
  EXPECT_EQ(r.Header("webhook-id"), "evt_123");
  EXPECT_EQ(r.Header("webhook-timestamp"), "1800000000");
  EXPECT_EQ(r.Header("webhook-signature"), "v1,c2lnbmF0dXJl");
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.body, R"({"type":"service_account.created"})");
  EXPECT_EQ(receiver_.TlsHandshakeFailures(), 0u);
}

TEST_F(WebhookHttpTransportTest, DeliversToAnIpLiteralByItsIpSan) {
  ASSERT_GT(receiver_.StartTls(pki_->localhost.cert_file,
                               pki_->localhost.key_file),
            0);
  receiver_.SetStatus(204);
  WebhookResponse response =
      Transport()->Post(Request("127.0.0.1", receiver_.port()));
  EXPECT_EQ(response.http_status, 204);
  EXPECT_EQ(resolutions_->load(), 0);  // a literal is not resolved
  EXPECT_EQ(receiver_.Count(), 1u);
}

TEST_F(WebhookHttpTransportTest, UntrustedChainIsTls) {
  ExpectTlsFailure(pki_->untrusted, "localhost");
}

TEST_F(WebhookHttpTransportTest, WrongNameIsTls) {
  ExpectTlsFailure(pki_->other_name, "localhost");
}

TEST_F(WebhookHttpTransportTest, NameOnlyCertificateDoesNotCoverAnIpLiteral) {
  ExpectTlsFailure(pki_->other_name, "127.0.0.1");
}

TEST_F(WebhookHttpTransportTest, CommonNameWithoutSanIsTls) {
  ExpectTlsFailure(pki_->cn_only, "localhost");
}

TEST_F(WebhookHttpTransportTest, ExpiredCertificateIsTls) {
  ExpectTlsFailure(pki_->expired, "localhost");
}

TEST_F(WebhookHttpTransportTest, SystemTrustStoreDoesNotTrustTheTestCa) {
  ASSERT_GT(receiver_.StartTls(pki_->localhost.cert_file,
                               pki_->localhost.key_file),
            0);
  // The default transport: system resolver and system trust store.
  WebhookHttpTransport transport;
  EXPECT_EQ(transport.Post(Request("127.0.0.1", receiver_.port())).error,
            WebhookDeliveryError::kTls);
  EXPECT_EQ(receiver_.Count(), 0u);
}

// A receiver that offers only TLS 1.2 with a CBC (non-AEAD) suite: the
// client has nothing in common with it, no request is sent.
TEST_F(WebhookHttpTransportTest, WeakCipherOnlyReceiverIsTls) {
  OneShotTlsServer server(pki_->localhost, [](SSL_CTX* ctx) {
    return SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) == 1 &&
           SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-SHA") == 1;
  });
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(Transport()->Post(Request("localhost", server.port())).error,
            WebhookDeliveryError::kTls);
  EXPECT_FALSE(server.Handshaken());
}

// A receiver that speaks only TLS 1.1 or older is refused: no downgrade.
TEST_F(WebhookHttpTransportTest, OldProtocolOnlyReceiverIsTls) {
  OneShotTlsServer server(pki_->localhost, [](SSL_CTX* ctx) {
    return SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION) == 1 &&
           SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION) == 1 &&
           SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0") == 1;
  });
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(Transport()->Post(Request("localhost", server.port())).error,
            WebhookDeliveryError::kTls);
  EXPECT_FALSE(server.Handshaken());
}

// A receiver that demands a client certificate rejects the handshake
// only after the client's Finished under TLS 1.3 (the alert arrives while
// the response is read): still a failed handshake, kTls.
TEST_F(WebhookHttpTransportTest, ReceiverDemandingClientCertificateIsTls) {
  OneShotTlsServer server(pki_->localhost, [](SSL_CTX* ctx) {
    SSL_CTX_set_verify(
        ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    return SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1;
  });
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(Transport()->Post(Request("localhost", server.port())).error,
            WebhookDeliveryError::kTls);
  EXPECT_FALSE(server.Handshaken());
}

TEST_F(WebhookHttpTransportTest, StalledHandshakeTimesOut) {
  ListeningSocket silent;
  ASSERT_GT(silent.port(), 0);
  WebhookRequest request = Request("localhost", silent.port());
  request.timeout = absl::Milliseconds(500);
  const absl::Time start = absl::Now();
  WebhookResponse response = Transport()->Post(request);
  EXPECT_EQ(response.error, WebhookDeliveryError::kTimeout);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(silent.HasPendingConnection());  // it did connect
}

TEST_F(WebhookHttpTransportTest, RefusedTargetNeverConnects) {
  ListeningSocket listener;
  ASSERT_GT(listener.port(), 0);
  auto transport = Transport();
  for (const std::string& host : {"localhost", "127.0.0.1"}) {
    WebhookRequest request = Request(host, listener.port());
    request.target_policy.allow_private_targets = false;
    EXPECT_EQ(transport->Post(request).error,
              WebhookDeliveryError::kRefusedTarget)
        << host;
  }
  EXPECT_FALSE(listener.HasPendingConnection());
  // A public name whose answer is loopback: resolved, refused, never
  // connected to.
  WebhookHttpTransportOptions options;
  options.tls = tls_;
  options.resolver = [](const std::string&) {
    return std::vector<std::string>{"127.0.0.1"};
  };
  WebhookHttpTransport rebinding(std::move(options));
  WebhookRequest request = Request("hooks.example.com", listener.port());
  request.target_policy.allow_private_targets = false;
  EXPECT_EQ(rebinding.Post(request).error,
            WebhookDeliveryError::kRefusedTarget);
  EXPECT_FALSE(listener.HasPendingConnection());
}

// Name resolution is inside the attempt's budget: a resolver that does not
// answer costs about the timeout, not its own time.
TEST_F(WebhookHttpTransportTest, SlowResolverTimesOut) {
  auto release = std::make_shared<absl::Notification>();
  WebhookHttpTransportOptions options;
  options.tls = tls_;
  options.resolver = [release](const std::string&) {
    release->WaitForNotificationWithTimeout(absl::Seconds(30));
    return std::vector<std::string>{"127.0.0.1"};
  };
  WebhookHttpTransport transport(std::move(options));
  WebhookRequest request = Request("localhost", 9);
  request.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  EXPECT_EQ(transport.Post(request).error, WebhookDeliveryError::kTimeout);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  release->Notify();
}

// An infinite budget is a long one, not an overflowed deadline in the past.
TEST_F(WebhookHttpTransportTest, InfiniteTimeoutStillDelivers) {
  ASSERT_GT(receiver_.StartTls(pki_->localhost.cert_file,
                               pki_->localhost.key_file),
            0);
  WebhookRequest request = Request("localhost", receiver_.port());
  request.timeout = absl::InfiniteDuration();
  EXPECT_EQ(Transport()->Post(request).http_status, 200);
}

TEST_F(WebhookHttpTransportTest, PlainHttpStillWorks) {
  ASSERT_GT(receiver_.Start(), 0);
  WebhookRequest request = Request("localhost", receiver_.port());
  request.url = receiver_.Url("/plain");
  EXPECT_EQ(Transport()->Post(request).http_status, 200);
  ASSERT_EQ(receiver_.Count(), 1u);
  EXPECT_EQ(receiver_.Received()[0].Header("webhook-id"), "evt_123");
}

TEST(WebhookTlsContextTest, BadCaFileIsInvalidArgument) {
  absl::StatusOr<std::unique_ptr<WebhookTlsContext>> missing =
      WebhookTlsContext::Create("/nonexistent/ca.pem");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::unique_ptr<WebhookTlsContext>> system =
      WebhookTlsContext::Create("");
  ASSERT_TRUE(system.ok()) << system.status();
  // An identity that would disable the host check is refused.
  SSL* ssl = SSL_new((*system)->context().native_handle());
  ASSERT_NE(ssl, nullptr);
  EXPECT_EQ(WebhookTlsContext::ConfigureConnection(ssl, "", false).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      WebhookTlsContext::ConfigureConnection(ssl, "not an ip", true).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      WebhookTlsContext::ConfigureConnection(ssl, "hooks.example.com", false)
          .ok());
  SSL_free(ssl);
}

TEST_F(WebhookHttpTransportTest, CaFileWithoutCertificatesIsInvalidArgument) {
  // A key file holds no certificate.
  EXPECT_EQ(WebhookTlsContext::Create(pki_->localhost.key_file).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace keygate
