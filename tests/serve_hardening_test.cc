// tests/serve_hardening_test.cc: `keygate serve` attacked as a hostile
// client would, over real loopback sockets against the real binary.
//
// Each finding of the attacker review of the first host is a test here (or
// in http_management_api_test for what the adapter decides). Every attack
// loop is bounded in count and time and talks only to 127.0.0.1.
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "tests/serve_test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define KEYGATE_SERVE_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEYGATE_SERVE_TEST_UNDER_ASAN 1
#endif
#endif

namespace keygate::tool {
namespace {

// kLatencySlack widens the two latency bounds below in the ASan build (the
// asan CI stage): the server runs several times slower there, and on a shared
// 2-core machine a sanitized server answered 20 requests behind 216 hostile
// connections with a 1.1 s maximum and 50 keep-alive requests in 4.1 s, with
// no bug. Under ASan those two tests are liveness bounds only (a stall of
// seconds still fails); the main ctest run keeps the exact bounds, which is
// where a Nagle stall (50 x 40 ms) is told apart.
#if KEYGATE_SERVE_TEST_UNDER_ASAN
constexpr double kLatencySlack = 4.0;
#else
constexpr double kLatencySlack = 1.0;
#endif

using namespace ::keygate::tool::test;  // NOLINT: the shared HTTP test kit
using Clock = std::chrono::steady_clock;

// ResidentBytes reads VmRSS of `pid` from /proc (0 if unreadable).
size_t ResidentBytes(pid_t pid) {
  std::string status = ReadFile("/proc/" + std::to_string(pid) + "/status");
  size_t at = status.find("VmRSS:");
  if (at == std::string::npos) return 0;
  return std::strtoull(status.c_str() + at + 6, nullptr, 10) * 1024;
}

// SendAll writes `data`; false if the peer closed or stopped reading for
// longer than the socket's send timeout.
bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// ReadAvailable reads what the server sent within `wait`.
std::string ReadAvailable(int fd, std::chrono::milliseconds wait) {
  std::string out;
  auto deadline = Clock::now() + wait;
  char buf[4096];
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - Clock::now())
                                    .count());
    if (poll(&p, 1, std::max(left, 0)) <= 0) break;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class ServeHardeningTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }

  void Start(std::vector<std::string> extra = {}) {
    server_.Start(std::move(extra));
    cli_ = server_.Client();
    jwt_ = server_.Jwt("acme");
  }

  ServerProcess server_;
  std::unique_ptr<httplib::Client> cli_;
  std::string jwt_;
};

// Finding 2: two connections sending ~1.5M header lines grew the server by
// ~600 MB. Now the head is cut at --max-header-bytes.
TEST_F(ServeHardeningTest, HeaderFloodIsCutAndMemoryStaysBounded) {
  Start();
  size_t before = ResidentBytes(server_.pid());
  ASSERT_GT(before, 0u);
  std::string lines;
  for (int i = 0; i < 20000; ++i) lines += "X-Flood-" + std::to_string(i) + ": y\r\n";
  std::vector<std::thread> flooders;
  std::vector<std::string> answers(2);
  for (int c = 0; c < 2; ++c) {
    flooders.emplace_back([&, c] {
      int fd = ConnectLoopback(server_.port());
      if (fd < 0) return;
      timeval tv{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
      size_t sent = 0;
      while (sent < (size_t{20} << 20) && SendAll(fd, lines)) sent += lines.size();
      answers[c] = ReadAvailable(fd, std::chrono::milliseconds(2000));
      close(fd);
    });
  }
  for (auto& t : flooders) t.join();
  size_t after = ResidentBytes(server_.pid());
  std::printf("two 20 MB header floods: server RSS %zu KiB -> %zu KiB\n",
              before / 1024, after / 1024);
  EXPECT_LT(after, before + (size_t{32} << 20))
      << "RSS grew from " << before << " to " << after;
  for (const std::string& answer : answers) {
    // Answered 431, or closed without an answer.
    if (!answer.empty()) EXPECT_THAT(answer, HasSubstr(" 431 "));
  }
  EXPECT_EQ(cli_->Get("/healthz")->status, 200);
}

TEST_F(ServeHardeningTest, TooManyHeaderFieldsGet431) {
  Start({"--max-header-count", "20"});
  std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 30; ++i) request += "X-F" + std::to_string(i) + ": y\r\n";
  request += "\r\n";
  std::string answer = RawExchange(server_.port(), request);
  EXPECT_THAT(answer, HasSubstr(" 431 "));
  EXPECT_THAT(answer, HasSubstr("application/problem+json"));
}

// Finding 3: 2 idle connections delayed every request by ~2 s, and N
// trickling connections with N = workers blocked the server.
TEST_F(ServeHardeningTest, IdleAndTricklingClientsDelayNoOne) {
  Start({"--head-timeout", "4s"});
  std::vector<int> idle;
  for (int i = 0; i < 200; ++i) {
    int fd = ConnectLoopback(server_.port());
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  std::atomic<bool> go{true};
  std::vector<std::thread> tricklers;
  std::atomic<int> cut_off{0};
  for (int i = 0; i < 16; ++i) {
    tricklers.emplace_back([&] {
      int fd = ConnectLoopback(server_.port());
      if (fd < 0) return;
      std::string head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
      auto start = Clock::now();
      size_t i = 0;
      while (go.load() && Clock::now() - start < std::chrono::seconds(12)) {
        if (!SendAll(fd, std::string_view(&head[i % head.size()], 1))) {
          cut_off.fetch_add(1);
          break;
        }
        ++i;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
      close(fd);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<double> millis;
  for (int i = 0; i < 20; ++i) {
    auto start = Clock::now();
    auto res = server_.Client()->Get("/healthz");
    millis.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::sort(millis.begin(), millis.end());
  std::printf("latency with 200 idle + 16 trickling: median %.2f ms, max %.2f ms\n",
              millis[millis.size() / 2], millis.back());
  // Liveness, not performance: the old server took 2 s to forever here.
  EXPECT_LT(millis.back(), 1000.0 * kLatencySlack);
  // Let the head deadline pass: the tricklers are cut off.
  std::this_thread::sleep_for(std::chrono::seconds(6));
  go.store(false);
  for (auto& t : tricklers) t.join();
  for (int fd : idle) close(fd);
  EXPECT_GT(cut_off.load(), 0) << "a trickling head must hit --head-timeout";
  EXPECT_EQ(cli_->Get("/healthz")->status, 200);
}

// Finding 12: every keep-alive request after the first took ~44 ms (Nagle
// against delayed ACK).
TEST_F(ServeHardeningTest, KeepAliveRequestsAreNotDelayedByNagle) {
  Start();
  auto cli = server_.Client();
  cli->set_keep_alive(true);
  // The client writes head and body separately: without NODELAY on its own
  // side, its Nagle would stall each body on the server's delayed ACK and
  // hide what this test looks at, the server's answers.
  cli->set_tcp_nodelay(true);
  ASSERT_EQ(cli->Get("/healthz")->status, 200);
  auto start = Clock::now();
  for (int i = 0; i < 50; ++i) {
    auto res = cli->Post("/service-accounts", Bearer(jwt_), "{}",
                         "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 422);
  }
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  std::printf("50 keep-alive requests: %.1f ms\n", ms);
  // 50 x 40 ms of Nagle would be 2 s.
  EXPECT_LT(ms, 1500.0 * kLatencySlack);
}

// Finding 4: ~100k nested '[' crashed the server while building the error.
TEST_F(ServeHardeningTest, DeepJsonNestingGets4xxAndTheServerStaysUp) {
  Start({"--max-body-bytes", "4194304"});
  ASSERT_EQ(cli_->Post("/service-accounts", Bearer(jwt_),
                       R"({"name":"Bot","slug":"bot"})", "application/json")
                ->status,
            201);
  for (const char* prefix : {R"({"name":"x","scopes":)", R"({"name":)"}) {
    std::string body = prefix;
    body.append(300000, '[');
    body.append(300000, ']');
    body.push_back('}');
    auto res = cli_->Post("/service-accounts/bot/tokens", Bearer(jwt_), body,
                          "application/json");
    ASSERT_TRUE(res) << "the server must answer, not crash";
    EXPECT_GE(res->status, 400);
    EXPECT_LT(res->status, 500);
  }
  EXPECT_EQ(cli_->Get("/healthz")->status, 200);
}

// Finding 9: routing after percent-decoding let %2F act as a separator.
TEST_F(ServeHardeningTest, EncodedSlashIsNeverASeparator) {
  Start();
  ASSERT_EQ(cli_->Post("/service-accounts", Bearer(jwt_),
                       R"({"name":"CI","slug":"ci-bot"})", "application/json")
                ->status,
            201);
  auto raw = [&](const std::string& target) {
    return RawExchange(server_.port(),
                       "GET " + target + " HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer " + jwt_ +
                           "\r\nConnection: close\r\n\r\n");
  };
  EXPECT_THAT(raw("/service-accounts/ci-bot"), HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(raw("/service-accounts%2Fci-bot"), HasSubstr("HTTP/1.1 404"));
  EXPECT_THAT(raw("/service-accounts%2fci-bot"), HasSubstr("HTTP/1.1 404"));
}

// Finding 6: a JWT secret readable by others was accepted.
TEST_F(ServeHardeningTest, JwtSecretReadableByOthersIsRefused) {
  ASSERT_EQ(chmod((server_.dir() + "/jwt-secret").c_str(), 0644), 0);
  std::string cmd = absl::StrCat("'", KEYGATE_BINARY, "' --data-dir '",
                                 server_.dir(), "/data' serve --listen "
                                 "127.0.0.1:0 --jwt-secret-file '",
                                 server_.dir(), "/jwt-secret' >'",
                                 server_.dir(), "/out' 2>&1");
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 1);
  EXPECT_THAT(ReadFile(server_.dir() + "/out"), HasSubstr("jwt"));
}

// Finding 5: the client could weaken /auth/check's scope through the query.
TEST_F(ServeHardeningTest, AuthCheckScopeComesFromTheOperator) {
  Start({"--auth-check-scope-from-header"});
  ASSERT_EQ(cli_->Post("/service-accounts", Bearer(jwt_),
                       R"({"name":"R","slug":"robot"})", "application/json")
                ->status,
            201);
  auto created = cli_->Post("/service-accounts/robot/tokens", Bearer(jwt_),
                            R"({"name":"r","scopes":["read:tokens"]})",
                            "application/json");
  ASSERT_EQ(created->status, 201);
  std::string reader = Json(created)["token"];
  httplib::Headers headers = Bearer(reader);
  headers.emplace("X-Keygate-Required-Scope", "write:tokens");
  ExpectProblem(cli_->Get("/auth/check", headers), 403);
  ExpectProblem(cli_->Get("/auth/check?scope=read:tokens", headers), 422);
  ExpectProblem(cli_->Get("/auth/check?scope=", headers), 422);
  headers.emplace("X-Keygate-Required-Scope", "read:tokens");
  ExpectProblem(cli_->Get("/auth/check", headers), 400);
  ExpectProblem(cli_->Get("/auth/check", Bearer(reader)), 400);
  headers = Bearer(reader);
  headers.emplace("X-Keygate-Required-Scope", "bogus");
  ExpectErrorAt(cli_->Get("/auth/check", headers),
                "header.X-Keygate-Required-Scope");
  headers = Bearer(reader);
  headers.emplace("X-Keygate-Required-Scope", "read:tokens");
  auto ok = cli_->Get("/auth/check", headers);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->get_header_value("X-Keygate-Service-Account"), "robot");
}

TEST_F(ServeHardeningTest, FixedAuthCheckScopeAndBadScopeFlag) {
  Start({"--auth-check-scope", "write:tokens"});
  ASSERT_EQ(cli_->Post("/service-accounts", Bearer(jwt_),
                       R"({"name":"R","slug":"robot"})", "application/json")
                ->status,
            201);
  auto created = cli_->Post("/service-accounts/robot/tokens", Bearer(jwt_),
                            R"({"name":"r","scopes":["read:tokens"]})",
                            "application/json");
  std::string reader = Json(created)["token"];
  ExpectProblem(cli_->Get("/auth/check", Bearer(reader)), 403);
  server_.Stop();
  std::string cmd = absl::StrCat("'", KEYGATE_BINARY, "' --data-dir '",
                                 server_.dir(), "/data' serve --listen "
                                 "127.0.0.1:0 --auth-check-scope bogus "
                                 "--jwt-secret-file '",
                                 server_.dir(), "/jwt-secret' >/dev/null 2>&1");
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 2);
}

// Finding 1 over the wire (the combinations are in http_management_api_test
// and delegation_test): a write:tokens token cannot mint itself more.
TEST_F(ServeHardeningTest, TokenCannotMintItselfAdministratorScopes) {
  Start();
  for (const char* slug : {"bot", "other"}) {
    ASSERT_EQ(cli_->Post("/service-accounts", Bearer(jwt_),
                         json{{"name", slug}, {"slug", slug}}.dump(),
                         "application/json")
                  ->status,
              201);
  }
  auto created = cli_->Post("/service-accounts/bot/tokens", Bearer(jwt_),
                            R"({"name":"w","scopes":["write:tokens"]})",
                            "application/json");
  std::string writer = Json(created)["token"];
  auto escalated = cli_->Post(
      "/service-accounts/bot/tokens", Bearer(writer),
      R"({"name":"x","scopes":["write:*","delete:service_accounts"]})",
      "application/json");
  ExpectProblem(escalated, 403);
  EXPECT_THAT(Json(escalated).value("detail", ""), HasSubstr("write:*"));
  ExpectProblem(cli_->Post("/service-accounts/other/tokens", Bearer(writer),
                           R"({"name":"x","scopes":["read:tokens"]})",
                           "application/json"),
                403);
  auto narrower = cli_->Post("/service-accounts/bot/tokens", Bearer(writer),
                             R"({"name":"n","scopes":["read:tokens"]})",
                             "application/json");
  EXPECT_EQ(narrower->status, 201);
  auto list = cli_->Get("/service-accounts/bot/tokens", Bearer(jwt_));
  EXPECT_EQ(Json(list)["items"].size(), 2u) << "nothing else was written";
}

// Finding 8: a JWT could pose as a token caller in createdBy.
TEST_F(ServeHardeningTest, JwtSubjectWithTokenPrefixIsRefused) {
  Start();
  std::string spoof = server_.Jwt("acme", "token:ci-bot/wt");
  ExpectProblem(cli_->Get("/service-accounts", Bearer(spoof)), 401);
}

// Finding 13: a BOM or a latin1 charset was accepted and parsed as UTF-8.
TEST_F(ServeHardeningTest, BomAndForeignCharsetAreRefused) {
  Start();
  ExpectProblem(cli_->Post("/service-accounts", Bearer(jwt_),
                           "\xEF\xBB\xBF{\"name\":\"B\",\"slug\":\"bom\"}",
                           "application/json"),
                400);
  ExpectProblem(cli_->Post("/service-accounts", Bearer(jwt_),
                           R"({"name":"L","slug":"latin"})",
                           "application/json; charset=latin1"),
                415);
  EXPECT_EQ(cli_->Get("/service-accounts", Bearer(jwt_))->body.find("bom"),
            std::string::npos);
}

TEST_F(ServeHardeningTest, QuotaFlagLimitsActiveTokensPerOrganization) {
  Start({"--max-active-tokens-per-org", "1"});
  ASSERT_EQ(cli_->Post("/service-accounts", Bearer(jwt_),
                       R"({"name":"B","slug":"bot"})", "application/json")
                ->status,
            201);
  EXPECT_EQ(cli_->Post("/service-accounts/bot/tokens", Bearer(jwt_),
                       R"({"name":"a","scopes":["read:tokens"]})",
                       "application/json")
                ->status,
            201);
  ExpectProblem(cli_->Post("/service-accounts/bot/tokens", Bearer(jwt_),
                           R"({"name":"b","scopes":["read:tokens"]})",
                           "application/json"),
                429);
}

// Review finding: a POST with "Transfer-Encoding: identity" was read as
// bodiless and its body served as a second, smuggled request (RFC 9112 6.3
// requires 400 and a close).
TEST_F(ServeHardeningTest, TransferEncodingNotEndingInChunkedIsNotSmuggled) {
  Start();
  for (const char* coding : {"identity", "gzip", "chunked, identity"}) {
    SCOPED_TRACE(coding);
    std::string answer = RawExchange(
        server_.port(),
        absl::StrCat("POST /service-accounts HTTP/1.1\r\nHost: x\r\n",
                     "Transfer-Encoding: ", coding, "\r\n\r\n",
                     "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_THAT(answer, HasSubstr("HTTP/1.1 400 "));
    EXPECT_EQ(answer.find("HTTP/1.1 "), answer.rfind("HTTP/1.1 "))
        << "more than one response: " << answer;
    EXPECT_EQ(answer.find("\"status\":\"ok\""), std::string::npos);
  }
}

}  // namespace
}  // namespace keygate::tool
