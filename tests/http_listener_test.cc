// tests/http_listener_test.cc: HttpListener over real loopback sockets.
//
// Every test runs a listener in-process with a trivial handler and talks to
// it with raw sockets, so the attacks (header floods, trickling heads, idle
// connections, oversized bodies) are byte-exact. Every loop is bounded in
// count and time.
#include "tools/keygate/http_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keygate/http/message.h"
#include "nlohmann/json.hpp"

namespace keygate::tool {
namespace {

// kLatencySlack widens the fresh-request bound of
// IdleAndTricklingClientsDelayNobody in the ASan build (the asan CI stage):
// on a shared 2-core machine a sanitized listener answered with a 1.09-1.56 s
// maximum beside the hostile connections, with no bug. Under ASan that test
// is a liveness bound (a stall of seconds still fails); the main ctest run
// keeps the 1 s bound.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kLatencySlack = 4;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int kLatencySlack = 4;
#else
constexpr int kLatencySlack = 1;
#endif
#else
constexpr int kLatencySlack = 1;
#endif

using ::testing::HasSubstr;
using ::testing::Not;

// ----- the server side ------------------------------------------------------

// TestServer runs an HttpListener on 127.0.0.1 on its own thread and keeps
// its log lines.
class TestServer {
 public:
  TestServer(HttpHandler handler, HttpListenerOptions options) {
    options.log = [this](std::string_view line) {
      absl::MutexLock lock(&mu_);
      logs_.emplace_back(line);
    };
    listener_ = std::make_unique<HttpListener>(std::move(handler),
                                               std::move(options));
    absl::StatusOr<int> port = listener_->Bind("127.0.0.1", 0);
    if (!port.ok()) throw std::runtime_error(port.status().ToString());
    port_ = *port;
    thread_ = std::thread([this] {
      run_status_ = listener_->Run();
      run_done_.store(true);
    });
  }

  ~TestServer() {
    listener_->Stop();
    if (thread_.joinable()) thread_.join();
  }

  int port() const { return port_; }
  HttpListener& listener() { return *listener_; }

  // StopAndWait calls Stop and waits up to `bound` for Run to return.
  bool StopAndWait(absl::Duration bound) {
    listener_->Stop();
    absl::Time deadline = absl::Now() + bound;
    while (!run_done_.load() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    if (!run_done_.load()) return false;
    thread_.join();
    return run_status_.ok();
  }

  std::vector<std::string> Logs() {
    absl::MutexLock lock(&mu_);
    return logs_;
  }

  // WaitForLog waits up to `bound` for a log line containing `part`.
  bool WaitForLog(std::string_view part, absl::Duration bound) {
    absl::Time deadline = absl::Now() + bound;
    do {
      if (AllLogs().find(part) != std::string::npos) return true;
      absl::SleepFor(absl::Milliseconds(5));
    } while (absl::Now() < deadline);
    return false;
  }

  std::string AllLogs() {
    std::string all;
    for (const std::string& line : Logs()) absl::StrAppend(&all, line, "\n");
    return all;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> logs_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<HttpListener> listener_;
  int port_ = 0;
  std::thread thread_;
  absl::Status run_status_;
  std::atomic<bool> run_done_{false};
};

// Echo answers 200 with the request as it arrived: "<method> <target>\n",
// one "name: value\n" per field, "\n", then the body.
http::Response Echo(const http::Request& request, std::string* log_fields) {
  http::Response response;
  response.headers.push_back({"Content-Type", "text/plain"});
  response.body = absl::StrCat(request.method, " ", request.target, "\n");
  for (const http::Header& h : request.headers) {
    absl::StrAppend(&response.body, h.name, ": ", h.value, "\n");
  }
  absl::StrAppend(&response.body, "\n", request.body);
  *log_fields += " route=/echo";
  return response;
}

HttpListenerOptions TestOptions() {
  HttpListenerOptions options;
  options.threads = 2;
  return options;
}

// ----- the client side ------------------------------------------------------

// Client is one raw loopback connection with a read-ahead buffer. Reads and
// writes time out after 5 s, so no test can hang on a socket.
class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ =
        ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { Close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Send writes all of `data`; false on any error (e.g. the server closed).
  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // ReadMore appends what arrives next; false on EOF, error or timeout.
  bool ReadMore() {
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  struct Response {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    std::optional<std::string> Header(std::string_view name) const {
      for (const auto& [n, v] : headers) {
        if (http::EqualsIgnoreCase(n, name)) return v;
      }
      return std::nullopt;
    }
  };

  // ReadResponse reads one response framed by Content-Length (no body for
  // a HEAD request, 1xx, 204 and 304). nullopt if the connection ended
  // first or the response is malformed.
  std::optional<Response> ReadResponse(bool head_request = false) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (buffer_.size() > 1 << 20 || !ReadMore()) return std::nullopt;
    }
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    Response response;
    if (head.compare(0, 9, "HTTP/1.1 ") != 0 || head.size() < 12) {
      return std::nullopt;
    }
    response.status = std::stoi(head.substr(9, 3));
    size_t pos = head.find("\r\n");
    while (pos != std::string::npos) {
      size_t next = head.find("\r\n", pos + 2);
      std::string line = head.substr(
          pos + 2, next == std::string::npos ? std::string::npos
                                             : next - pos - 2);
      size_t colon = line.find(':');
      if (colon == std::string::npos) return std::nullopt;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      response.headers.emplace_back(line.substr(0, colon), value);
      pos = next;
    }
    if (head_request || response.status < 200 || response.status == 204 ||
        response.status == 304) {
      return response;
    }
    std::optional<std::string> length = response.Header("Content-Length");
    if (!length) return std::nullopt;
    size_t n = std::stoul(*length);
    while (buffer_.size() < n) {
      if (!ReadMore()) return std::nullopt;
    }
    response.body = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return response;
  }

  // Request sends `raw` and reads one response.
  std::optional<Response> Request(std::string_view raw,
                                  bool head_request = false) {
    if (!Send(raw)) return std::nullopt;
    return ReadResponse(head_request);
  }

  // WaitClosed waits up to `bound` for the server to close the connection
  // (EOF or reset), discarding what arrives. Bytes already buffered count as
  // read.
  bool WaitClosed(absl::Duration bound) {
    absl::Time deadline = absl::Now() + bound;
    while (absl::Now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      int ms = static_cast<int>(
          absl::ToInt64Milliseconds(deadline - absl::Now()) + 1);
      if (::poll(&p, 1, ms) <= 0) continue;
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return true;
    }
    return false;
  }

  // ClosedNow says whether the server has closed the connection, without
  // waiting.
  bool ClosedNow() {
    char chunk[4096];
    for (int i = 0; i < 64; ++i) {
      ssize_t n = ::recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
    }
    return false;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

constexpr char kGet[] = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";

void ExpectProblem(const std::optional<Client::Response>& response,
                   int status) {
  ASSERT_TRUE(response.has_value()) << "no response, wanted " << status;
  EXPECT_EQ(response->status, status);
  EXPECT_EQ(response->Header("Content-Type"), "application/problem+json");
  nlohmann::json body = nlohmann::json::parse(response->body, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << response->body;
  EXPECT_EQ(body["status"], status);
  EXPECT_TRUE(body.contains("title"));
  EXPECT_TRUE(body.contains("detail"));
}

size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

absl::Duration Median(std::vector<absl::Duration> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? absl::ZeroDuration() : v[v.size() / 2];
}

// ----- round trips ------------------------------------------------------------

TEST(HttpListenerTest, GetAndPostRoundTrip) {
  TestServer server(Echo, TestOptions());
  Client client(server.port());
  ASSERT_TRUE(client.connected());

  auto get = client.Request(kGet);
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->Header("Content-Type"), "text/plain");
  EXPECT_EQ(get->Header("Content-Length"), std::to_string(get->body.size()));
  EXPECT_EQ(get->body, "GET /hello\nHost: t\n\n");

  auto post = client.Request(
      "POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n"
      "hello");
  ASSERT_TRUE(post.has_value());
  EXPECT_EQ(post->status, 200);
  EXPECT_EQ(post->body, "POST /items\nHost: t\nContent-Length: 5\n\nhello");

  std::string body_with_nul("a\0b", 3);
  auto post_nul = client.Request(absl::StrCat(
      "POST /n HTTP/1.1\r\nContent-Length: 3\r\n\r\n", body_with_nul));
  ASSERT_TRUE(post_nul.has_value());
  EXPECT_THAT(post_nul->body, testing::EndsWith(body_with_nul));

  auto chunked = client.Request(
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n");
  ASSERT_TRUE(chunked.has_value());
  EXPECT_EQ(chunked->status, 200);
  EXPECT_THAT(chunked->body, testing::EndsWith("\n\nabcde"));
  // A trailer never joins the request's fields.
  EXPECT_THAT(chunked->body, Not(HasSubstr("X-Trailer")));
}

TEST(HttpListenerTest, RepeatedHeadersKeptInOrderWithNamesAsSent) {
  TestServer server(Echo, TestOptions());
  Client client(server.port());
  auto response = client.Request(
      "GET / HTTP/1.1\r\nX-A: 1\r\nx-b: 2\r\nX-A: 3\r\nX-EMPTY:\r\n\r\n");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "GET /\nX-A: 1\nx-b: 2\nX-A: 3\nX-EMPTY: \n\n");
}

TEST(HttpListenerTest, TargetArrivesRawNotDecoded) {
  TestServer server(Echo, TestOptions());
  Client client(server.port());
  auto response =
      client.Request("GET /a%2Fb/%2e%2e?q=%20x&y=1 HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "GET /a%2Fb/%2e%2e?q=%20x&y=1\n\n");
}

TEST(HttpListenerTest, HeadSendsContentLengthButNoBody) {
  TestServer server(Echo, TestOptions());
  Client client(server.port());
  auto head = client.Request("HEAD /x HTTP/1.1\r\n\r\n", /*head_request=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  // The handler's body would be "HEAD /x\n\n" (9 bytes).
  EXPECT_EQ(head->Header("Content-Length"), "9");
  // Had a body been sent, the next response would not parse.
  auto get = client.Request(kGet);
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "GET /hello\nHost: t\n\n");
}

TEST(HttpListenerTest, UnknownMethodReachesHandlerAndIsNotLogged) {
  TestServer server(
      [](const http::Request& request, std::string*) {
        http::Response response;
        response.status = request.method == "BREW" ? 405 : 200;
        response.headers.push_back({"Allow", "GET"});
        return response;
      },
      TestOptions());
  Client client(server.port());
  auto response = client.Request("BREW /pot HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->Header("Allow"), "GET");
  EXPECT_EQ(response->Header("Content-Length"), "0");
  EXPECT_TRUE(server.StopAndWait(absl::Seconds(5)));
  EXPECT_THAT(server.AllLogs(), HasSubstr("request method=- status=405 "));
  EXPECT_THAT(server.AllLogs(), Not(HasSubstr("BREW")));
}

TEST(HttpListenerTest, LogLineHasMethodStatusDurationAndHandlerFieldsOnly) {
  TestServer server(Echo, TestOptions());
  Client client(server.port());
  auto response = client.Request(
      "POST /p?secret-query=1 HTTP/1.1\r\nAuthorization: Bearer kg_SECRET\r\n"
      "Content-Length: 11\r\n\r\nsecret-body");
  ASSERT_TRUE(response.has_value());
  ASSERT_TRUE(server.StopAndWait(absl::Seconds(5)));
  std::vector<std::string> logs = server.Logs();
  ASSERT_EQ(logs.size(), 1u) << server.AllLogs();
  EXPECT_THAT(logs[0], testing::MatchesRegex(
                           "request method=POST status=200 duration_us=[0-9]+ "
                           "route=/echo"));
  EXPECT_THAT(logs[0], Not(HasSubstr("SECRET")));
  EXPECT_THAT(logs[0], Not(HasSubstr("secret")));
}

TEST(HttpListenerTest, ConnectionCloseAndHttp10KeepAliveRules) {
  TestServer server(Echo, TestOptions());
  {
    Client client(server.port());
    auto r = client.Request("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->Header("Connection"), "close");
    EXPECT_TRUE(client.WaitClosed(absl::Seconds(3)));
  }
  {
    Client client(server.port());
    auto r = client.Request("GET / HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->Header("Connection"), "close");
    EXPECT_TRUE(client.WaitClosed(absl::Seconds(3)));
  }
  {
    Client client(server.port());
    auto r = client.Request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->Header("Connection"), "keep-alive");
    auto again =
        client.Request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->status, 200);
  }
}

TEST(HttpListenerTest, PipelinedRequestsAnsweredInOrder) {
  TestServer server(Echo, TestOptions());
  Client client(server.port());
  ASSERT_TRUE(client.Send(
      "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n"));
  for (const char* path : {"/1", "/2", "/3"}) {
    auto r = client.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, absl::StrCat("GET ", path, "\n\n"));
  }
}

TEST(HttpListenerTest, ExpectContinueGetsInterimResponseThenBodyIsRead) {
  TestServer server(Echo, TestOptions());
  Client client(server.port());
  ASSERT_TRUE(client.Send(
      "POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  auto interim = client.ReadResponse();
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100);
  auto r = client.Request("body");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, testing::EndsWith("\n\nbody"));
}

// A server that leaves Nagle on (or writes head and body separately) costs
// ~40 ms per keep-alive request here: 50 of them would take ~2 s.
TEST(HttpListenerTest, KeepAliveRequestsAreNotDelayedByNagle) {
  TestServer server(Echo, TestOptions());
  Client client(server.port());
  ASSERT_TRUE(client.Request(kGet).has_value());  // warm up
  constexpr int kRequests = 50;
  std::vector<absl::Duration> each;
  absl::Time start = absl::Now();
  for (int i = 0; i < kRequests; ++i) {
    absl::Time t = absl::Now();
    auto r = client.Request(
        "POST /k HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    ASSERT_TRUE(r.has_value()) << "request " << i;
    ASSERT_EQ(r->status, 200);
    each.push_back(absl::Now() - t);
  }
  absl::Duration total = absl::Now() - start;
  std::printf("keep-alive: %d requests in %s, median %s, max %s\n", kRequests,
              absl::FormatDuration(total).c_str(),
              absl::FormatDuration(Median(each)).c_str(),
              absl::FormatDuration(*std::max_element(each.begin(), each.end()))
                  .c_str());
  EXPECT_LT(total, absl::Seconds(1));
}

// ----- hostile heads and bodies ----------------------------------------------

// Two connections each send 20 MB of header lines. The server must cut each
// at max_header_bytes (431 or close) instead of buffering the flood.
TEST(HttpListenerTest, HeaderFloodIsCutAndMemoryStaysBounded) {
  TestServer server(Echo, TestOptions());
  {  // Warm up allocator arenas and the listener's threads.
    Client client(server.port());
    ASSERT_TRUE(client.Request(kGet).has_value());
  }
  const size_t before = ResidentBytes();
  constexpr size_t kFloodBytes = 20u << 20;
  std::string lines;
  while (lines.size() < 64 * 1024) lines += "X-Flood: aaaaaaaaaaaaaaaa\r\n";
  std::atomic<size_t> peak{before};
  std::vector<std::string> outcomes(2);
  std::vector<size_t> sent(2, 0);
  std::vector<std::thread> flooders;
  for (int i = 0; i < 2; ++i) {
    flooders.emplace_back([&, i] {
      Client client(server.port());
      if (!client.Send("GET / HTTP/1.1\r\nHost: t\r\n")) return;
      while (sent[i] < kFloodBytes && client.Send(lines)) {
        sent[i] += lines.size();
        size_t now = ResidentBytes();
        size_t seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
      }
      auto r = client.ReadResponse();
      outcomes[i] = r ? std::to_string(r->status) : "closed";
      if (r) {
        ExpectProblem(r, 431);
      }
    });
  }
  for (std::thread& t : flooders) t.join();
  const size_t after = ResidentBytes();
  const size_t grown = std::max(after, peak.load()) - before;
  std::printf("header flood: sent %zu and %zu bytes; outcomes %s, %s; "
              "RSS grew %zu KiB\n",
              sent[0], sent[1], outcomes[0].c_str(), outcomes[1].c_str(),
              grown / 1024);
  for (const std::string& outcome : outcomes) {
    EXPECT_TRUE(outcome == "431" || outcome == "closed") << outcome;
  }
  EXPECT_LT(grown, size_t{32} << 20);
  // The listener keeps serving.
  Client client(server.port());
  auto r = client.Request(kGet);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

TEST(HttpListenerTest, TooManyHeaderFieldsGets431) {
  HttpListenerOptions options = TestOptions();
  options.max_header_count = 100;
  TestServer server(Echo, options);
  auto request_with = [](int fields) {
    std::string request = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < fields; ++i) absl::StrAppend(&request, "F", i, ": v\r\n");
    return request + "\r\n";
  };
  {
    Client client(server.port());
    auto at_limit = client.Request(request_with(100));
    ASSERT_TRUE(at_limit.has_value());
    EXPECT_EQ(at_limit->status, 200);
  }
  Client client(server.port());
  auto over = client.Request(request_with(101));
  ExpectProblem(over, 431);
  EXPECT_EQ(over->Header("Connection"), "close");
  EXPECT_TRUE(client.WaitClosed(absl::Seconds(4)));
  EXPECT_TRUE(server.StopAndWait(absl::Seconds(5)));
  EXPECT_THAT(server.AllLogs(),
              HasSubstr("request method=GET status=431 duration_us="));
  EXPECT_THAT(server.AllLogs(), HasSubstr("error=too_many_headers"));
}

TEST(HttpListenerTest, HeadOverMaxHeaderBytesGets431) {
  HttpListenerOptions options = TestOptions();
  options.max_header_bytes = 4096;
  TestServer server(Echo, options);
  {  // One big field.
    Client client(server.port());
    auto r = client.Request(absl::StrCat(
        "GET / HTTP/1.1\r\nX-Big: ", std::string(5000, 'a'), "\r\n\r\n"));
    ExpectProblem(r, 431);
  }
  {  // A long target.
    Client client(server.port());
    auto r = client.Request(
        absl::StrCat("GET /", std::string(5000, 'a'), " HTTP/1.1\r\n\r\n"));
    ExpectProblem(r, 431);
  }
  {  // Many fields that each fit, together over the limit.
    std::string request = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 60; ++i) {
      absl::StrAppend(&request, "F", i, ": ", std::string(80, 'v'), "\r\n");
    }
    Client client(server.port());
    auto r = client.Request(request + "\r\n");
    ExpectProblem(r, 431);
  }
  {  // A head that never ends, sent in pieces.
    Client client(server.port());
    ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\n"));
    bool sent = true;
    for (int i = 0; i < 100 && sent; ++i) {
      sent = client.Send(absl::StrCat("X", i, ": ", std::string(100, 'x'),
                                      "\r\n"));
    }
    auto r = client.ReadResponse();
    ExpectProblem(r, 431);
  }
}

TEST(HttpListenerTest, BodyOverLimitGets413BeforeBodyIsSent) {
  HttpListenerOptions options = TestOptions();
  options.max_body_bytes = 1024;
  TestServer server(Echo, options);
  {  // Exactly the limit is fine.
    Client client(server.port());
    auto r = client.Request(absl::StrCat(
        "POST / HTTP/1.1\r\nContent-Length: 1024\r\n\r\n",
        std::string(1024, 'b')));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
  }
  {  // Only the head is sent: the 413 must come without the body.
    Client client(server.port());
    absl::Time start = absl::Now();
    auto r = client.Request(
        "POST / HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n");
    ExpectProblem(r, 413);
    EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  }
  {  // With Expect: 100-continue, no 100 is sent before the 413.
    Client client(server.port());
    auto r = client.Request(
        "POST / HTTP/1.1\r\nExpect: 100-continue\r\n"
        "Content-Length: 5000\r\n\r\n");
    ExpectProblem(r, 413);
  }
  {  // A chunked body is cut when it passes the limit.
    Client client(server.port());
    std::string request =
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 3; ++i) {
      absl::StrAppend(&request, "200\r\n", std::string(512, 'c'), "\r\n");
    }
    auto r = client.Request(request);
    ExpectProblem(r, 413);
  }
}

TEST(HttpListenerTest, GarbageGets400) {
  TestServer server(Echo, TestOptions());
  static constexpr char kNulInValue[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
  for (std::string_view garbage :
       {std::string_view("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
        std::string_view("GET / FOO/1.1\r\n\r\n"),
        std::string_view("GET /a b HTTP/1.1\r\n\r\n"),
        std::string_view("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"),
        std::string_view(kNulInValue, sizeof(kNulInValue) - 1),
        std::string_view("POST / HTTP/1.1\r\nContent-Length: 1\r\n"
                         "Content-Length: 2\r\n\r\nab"),
        std::string_view("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
        std::string_view("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                         "\r\nzz\r\n"),
        std::string_view("GET / HTTP/2.0\r\n\r\n")}) {
    Client client(server.port());
    auto r = client.Request(garbage);
    ExpectProblem(r, 400);
    EXPECT_TRUE(client.WaitClosed(absl::Seconds(4)));
  }
  EXPECT_TRUE(server.StopAndWait(absl::Seconds(5)));
  EXPECT_THAT(server.AllLogs(),
              HasSubstr("request method=- status=400 duration_us="));
}

// RFC 9112 6.3: a request whose Transfer-Encoding does not end in chunked
// has no reliable length and must be refused with 400 and a close. Read as
// bodiless instead, its body is parsed as a second request: a front proxy
// that frames it differently is desynchronized (request smuggling).
TEST(HttpListenerTest, TransferEncodingNotEndingInChunkedGets400NotSmuggled) {
  std::atomic<int> smuggled{0};
  TestServer server(
      [&smuggled](const http::Request& request, std::string* log_fields) {
        if (request.target == "/smuggled") ++smuggled;
        return Echo(request, log_fields);
      },
      TestOptions());
  constexpr char kSmuggled[] = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
  for (std::string_view coding :
       {"identity", "gzip", "chunked, identity", "xchunked", "chunked;q=1",
        "chunked\r\nTransfer-Encoding: identity",
        "gzip\r\nContent-Length: 35", "identity\r\nContent-Length: 0"}) {
    SCOPED_TRACE(coding);
    Client client(server.port());
    auto r = client.Request(absl::StrCat("POST /first HTTP/1.1\r\nHost: t\r\n",
                                         "Transfer-Encoding: ", std::string(coding),
                                         "\r\n\r\n", kSmuggled));
    ExpectProblem(r, 400);
    EXPECT_FALSE(client.ReadResponse().has_value()) << "a second response";
    EXPECT_TRUE(client.WaitClosed(absl::Seconds(4)));
  }
  // A body that ends in chunked is still read as one.
  Client client(server.port());
  auto r = client.Request(
      "POST /ok HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n"
      "\r\n2\r\nhi\r\n0\r\n\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("\n\nhi"));
  EXPECT_TRUE(server.StopAndWait(absl::Seconds(5)));
  EXPECT_EQ(smuggled.load(), 0);
}

// ----- slow clients -----------------------------------------------------------

struct SlowClientCase {
  int threads;
  int handler_sleep_ms;
};

class HttpListenerSlowClientTest
    : public testing::TestWithParam<SlowClientCase> {};

// 200 idle connections and 16 connections trickling one head byte a second
// hold no worker: 20 requests on fresh connections meanwhile are answered
// at once, and every trickler is cut at head_timeout.
TEST_P(HttpListenerSlowClientTest, IdleAndTricklingClientsDelayNobody) {
  const SlowClientCase param = GetParam();
  HttpListenerOptions options = TestOptions();
  options.threads = param.threads;
  options.head_timeout = absl::Seconds(2);
  const int sleep_ms = param.handler_sleep_ms;
  TestServer server(
      [sleep_ms](const http::Request& request, std::string* fields) {
        if (sleep_ms > 0) absl::SleepFor(absl::Milliseconds(sleep_ms));
        return Echo(request, fields);
      },
      options);

  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 200; ++i) {
    idle.push_back(std::make_unique<Client>(server.port()));
    ASSERT_TRUE(idle.back()->connected());
  }

  constexpr int kTricklers = 16;
  const std::string trickle_head = "GET / HTTP/1.1\r\nX-Slow: ";
  std::vector<std::unique_ptr<Client>> tricklers;
  for (int i = 0; i < kTricklers; ++i) {
    tricklers.push_back(std::make_unique<Client>(server.port()));
  }
  std::vector<absl::Duration> cut_after(kTricklers, absl::InfiniteDuration());
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    const absl::Time start = absl::Now();
    // One byte per connection about every second, for at most 8 s.
    for (size_t tick = 0; tick < 8 && !done.load(); ++tick) {
      char byte = tick < trickle_head.size() ? trickle_head[tick] : 'a';
      for (int i = 0; i < kTricklers; ++i) {
        if (cut_after[i] != absl::InfiniteDuration()) continue;
        if (tricklers[i]->ClosedNow() ||
            !tricklers[i]->Send(std::string_view(&byte, 1))) {
          cut_after[i] = absl::Now() - start;
        }
      }
      if (std::all_of(cut_after.begin(), cut_after.end(), [](absl::Duration d) {
            return d != absl::InfiniteDuration();
          })) {
        break;
      }
      // Poll for closes in 100 ms steps until the next byte is due.
      for (int step = 0; step < 10; ++step) {
        absl::SleepFor(absl::Milliseconds(100));
        for (int i = 0; i < kTricklers; ++i) {
          if (cut_after[i] == absl::InfiniteDuration() &&
              tricklers[i]->ClosedNow()) {
            cut_after[i] = absl::Now() - start;
          }
        }
      }
    }
  });

  std::vector<absl::Duration> latencies;
  for (int i = 0; i < 20; ++i) {
    absl::Time t = absl::Now();
    Client client(server.port());
    auto r = client.Request(kGet);
    absl::Duration latency = absl::Now() - t;
    ASSERT_TRUE(r.has_value()) << "request " << i;
    EXPECT_EQ(r->status, 200);
    latencies.push_back(latency);
    absl::SleepFor(absl::Milliseconds(100));
  }
  trickle.join();
  done.store(true);

  absl::Duration max = *std::max_element(latencies.begin(), latencies.end());
  std::printf("threads=%d sleep=%dms: 20 fresh requests beside 200 idle + %d "
              "trickling connections: median %s, max %s\n",
              param.threads, sleep_ms, kTricklers,
              absl::FormatDuration(Median(latencies)).c_str(),
              absl::FormatDuration(max).c_str());
  for (absl::Duration latency : latencies) {
    EXPECT_LT(latency, absl::Seconds(1) * kLatencySlack);
  }
  for (int i = 0; i < kTricklers; ++i) {
    // Cut at head_timeout (2 s) after its first byte, seen within the poll
    // step; a server that resets the deadline per byte never cuts it.
    EXPECT_GE(cut_after[i], absl::Milliseconds(1500)) << "trickler " << i;
    EXPECT_LT(cut_after[i], absl::Seconds(4)) << "trickler " << i;
  }
  // The idle connections are still open (idle_timeout is 30 s).
  EXPECT_FALSE(idle.front()->ClosedNow());
  EXPECT_TRUE(server.WaitForLog("error: request head timed out",
                                absl::Seconds(2)));
  EXPECT_TRUE(server.StopAndWait(absl::Seconds(10)));
}

INSTANTIATE_TEST_SUITE_P(
    Workers, HttpListenerSlowClientTest,
    testing::Values(SlowClientCase{0, 0}, SlowClientCase{1, 10}),
    [](const testing::TestParamInfo<SlowClientCase>& info) {
      return absl::StrCat("threads", info.param.threads, "_sleep",
                          info.param.handler_sleep_ms, "ms");
    });

TEST(HttpListenerTest, IdleKeepAliveConnectionClosedAfterIdleTimeout) {
  HttpListenerOptions options = TestOptions();
  options.idle_timeout = absl::Milliseconds(500);
  TestServer server(Echo, options);
  Client client(server.port());
  ASSERT_TRUE(client.Request(kGet).has_value());
  absl::Time answered = absl::Now();
  ASSERT_TRUE(client.WaitClosed(absl::Seconds(5)));
  absl::Duration waited = absl::Now() - answered;
  EXPECT_GE(waited, absl::Milliseconds(400));
  EXPECT_LT(waited, absl::Seconds(3));
  // A connection that never sends a byte is closed the same way.
  Client silent(server.port());
  EXPECT_TRUE(silent.WaitClosed(absl::Seconds(3)));
}

TEST(HttpListenerTest, BodyTimeoutClosesConnection) {
  HttpListenerOptions options = TestOptions();
  options.body_timeout = absl::Milliseconds(500);
  TestServer server(Echo, options);
  Client client(server.port());
  ASSERT_TRUE(client.Send("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nab"));
  absl::Time start = absl::Now();
  ASSERT_TRUE(client.WaitClosed(absl::Seconds(5)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // The socket closes before the read reports the timeout: wait for it.
  EXPECT_TRUE(server.WaitForLog("error: request body timed out",
                                absl::Seconds(2)))
      << server.AllLogs();
}

// ----- stop, errors, secrets, limits ---------------------------------------------

TEST(HttpListenerTest, StopAnswersInFlightRequestThenRunReturns) {
  std::atomic<bool> in_handler{false};
  TestServer server(
      [&](const http::Request& request, std::string* fields) {
        in_handler.store(true);
        absl::SleepFor(absl::Milliseconds(800));
        return Echo(request, fields);
      },
      TestOptions());
  Client idle(server.port());
  ASSERT_TRUE(idle.connected());
  Client busy(server.port());
  ASSERT_TRUE(busy.Send(kGet));
  for (int i = 0; i < 500 && !in_handler.load(); ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_TRUE(in_handler.load());
  absl::Time stop = absl::Now();
  server.listener().Stop();
  server.listener().Stop();  // idempotent
  auto r = busy.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_TRUE(idle.WaitClosed(absl::Seconds(2)));
  busy.Close();
  EXPECT_TRUE(server.StopAndWait(absl::Seconds(5)));
  std::printf("stop: Run returned %s after Stop\n",
              absl::FormatDuration(absl::Now() - stop).c_str());
  // No longer accepting.
  Client late(server.port());
  EXPECT_TRUE(!late.connected() || !late.Request(kGet).has_value());
}

TEST(HttpListenerTest, StopBeforeRunMakesRunReturn) {
  HttpListener listener(Echo, TestOptions());
  ASSERT_TRUE(listener.Bind("127.0.0.1", 0).ok());
  listener.Stop();
  EXPECT_TRUE(listener.Run().ok());
}

TEST(HttpListenerTest, RunWithoutBindFailsAndBindTwiceFails) {
  HttpListener unbound(Echo, TestOptions());
  EXPECT_EQ(unbound.Run().code(), absl::StatusCode::kFailedPrecondition);
  HttpListener listener(Echo, TestOptions());
  absl::StatusOr<int> port = listener.Bind("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  EXPECT_GT(*port, 0);
  EXPECT_EQ(listener.Bind("127.0.0.1", 0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  HttpListener clash(Echo, TestOptions());
  EXPECT_EQ(clash.Bind("127.0.0.1", *port).status().code(),
            absl::StatusCode::kUnavailable);
  HttpListener bad_host(Echo, TestOptions());
  EXPECT_EQ(bad_host.Bind("not a host", 0).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(HttpListenerTest, HandlerExceptionGets500Problem) {
  TestServer server(
      [](const http::Request&, std::string*) -> http::Response {
        throw std::runtime_error("boom kg_SECRET");
      },
      TestOptions());
  Client client(server.port());
  auto r = client.Request(kGet);
  ExpectProblem(r, 500);
  EXPECT_THAT(r->body, Not(HasSubstr("boom")));
  // The connection stays usable.
  ExpectProblem(client.Request(kGet), 500);
  EXPECT_TRUE(server.StopAndWait(absl::Seconds(5)));
  EXPECT_THAT(server.AllLogs(), HasSubstr("error: exception in handler"));
  EXPECT_THAT(server.AllLogs(), Not(HasSubstr("SECRET")));
}

TEST(HttpListenerTest, InvalidHandlerResponseGets500NotSplitHeaders) {
  TestServer server(
      [](const http::Request& request, std::string*) {
        http::Response response;
        if (request.target == "/split") {
          response.headers.push_back({"X-Ok", "a\r\nSet-Cookie: evil=1"});
        } else {
          response.status = 42;
        }
        return response;
      },
      TestOptions());
  Client client(server.port());
  auto split = client.Request("GET /split HTTP/1.1\r\n\r\n");
  ExpectProblem(split, 500);
  EXPECT_FALSE(split->Header("Set-Cookie").has_value());
  ExpectProblem(client.Request("GET /status HTTP/1.1\r\n\r\n"), 500);
}

TEST(HttpListenerTest, HandlerFramingHeadersAreReplaced) {
  TestServer server(
      [](const http::Request&, std::string*) {
        http::Response response;
        response.status = 204;
        response.headers.push_back({"Content-Length", "99"});
        response.headers.push_back({"Transfer-Encoding", "chunked"});
        response.body = "dropped";
        return response;
      },
      TestOptions());
  Client client(server.port());
  auto r = client.Request(kGet);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 204);
  EXPECT_FALSE(r->Header("Content-Length").has_value());
  EXPECT_FALSE(r->Header("Transfer-Encoding").has_value());
  // No body went out: the next response parses.
  auto again = client.Request(kGet);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->status, 204);
}

TEST(HttpListenerTest, SensitiveResponseBuffersAreWiped) {
  // The Response's own buffer (message.h): wiped by WipeBody and when
  // overwritten, the bytes zeroed in place.
  const std::string secret(200, 'S');
  http::Response response;
  response.sensitive = true;
  response.body = secret;
  const char* data = response.body.data();
  response.WipeBody();
  EXPECT_TRUE(response.body.empty());
  EXPECT_EQ(std::string(data, 200), std::string(200, '\0'));

  // Through the listener: the secret arrives intact (the listener copies
  // it into its write buffer and wipes both once written).
  TestServer server(
      [&](const http::Request&, std::string*) {
        http::Response r;
        r.status = 201;
        r.sensitive = true;
        r.body = secret;
        return r;
      },
      TestOptions());
  Client client(server.port());
  auto r = client.Request(kGet);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, secret);
  auto head = client.Request("HEAD / HTTP/1.1\r\n\r\n", true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->Header("Content-Length"), "200");
}

// At the cap, a new connection evicts the longest-idle connection (one
// waiting for a request's first byte); connections busy with a request are
// never evicted, and with no idle one the new connection is refused.
TEST(HttpListenerTest, ConnectionCapEvictsIdleButNeverBusyConnections) {
  HttpListenerOptions options = TestOptions();
  options.max_connections = 4;
  TestServer server(Echo, options);
  std::vector<std::unique_ptr<Client>> open;
  for (int i = 0; i < 4; ++i) {
    open.push_back(std::make_unique<Client>(server.port()));
    auto r = open.back()->Request(kGet);  // accepted and served, now idle
    ASSERT_TRUE(r.has_value()) << "connection " << i;
    absl::SleepFor(absl::Milliseconds(20));  // distinct idle ages
  }
  // A 5th evicts the longest-idle keep-alive connection (the first) and is
  // served; the other three are untouched.
  Client fifth(server.port());
  auto r5 = fifth.Request(kGet);
  ASSERT_TRUE(r5.has_value());
  EXPECT_EQ(r5->status, 200);
  EXPECT_TRUE(open[0]->WaitClosed(absl::Seconds(3)));
  for (int i = 1; i < 4; ++i) EXPECT_FALSE(open[i]->ClosedNow()) << i;

  // Now make every connection busy: each sends a partial request head.
  open[0] = std::move(open[3]);
  open.pop_back();
  for (auto& client : open) ASSERT_TRUE(client->Send("GET /slow HTTP/1.1\r\n"));
  ASSERT_TRUE(fifth.Send("GET /slow HTTP/1.1\r\n"));
  absl::SleepFor(absl::Milliseconds(200));
  {
    Client sixth(server.port());
    EXPECT_TRUE(sixth.WaitClosed(absl::Seconds(3)));  // refused
  }
  // The busy ones were not evicted: they finish their requests.
  for (auto& client : open) {
    auto r = client->Request("Host: t\r\n\r\n");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
  }
  auto r = fifth.Request("Host: t\r\n\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(server.StopAndWait(absl::Seconds(5)));
  EXPECT_THAT(server.AllLogs(), HasSubstr("error: connection limit (4)"));
}

// The attack: max_connections silent sockets that never send a byte must
// not lock out real clients until idle_timeout (30 s here) expires. The
// 9th client is answered promptly because the oldest silent one is evicted.
TEST(HttpListenerTest, SilentConnectionsAtCapDoNotLockOutNewClients) {
  HttpListenerOptions options = TestOptions();
  options.max_connections = 8;
  options.idle_timeout = absl::Seconds(30);
  TestServer server(Echo, options);
  std::vector<std::unique_ptr<Client>> silent;
  for (int i = 0; i < 8; ++i) {
    silent.push_back(std::make_unique<Client>(server.port()));
    ASSERT_TRUE(silent.back()->connected());
  }
  absl::SleepFor(absl::Milliseconds(200));  // all 8 accepted
  // Served clients stay open (idle, newer than the silent ones), so each
  // round needs an eviction.
  std::vector<std::unique_ptr<Client>> served;
  for (int round = 0; round < 3; ++round) {
    absl::Time start = absl::Now();
    served.push_back(std::make_unique<Client>(server.port()));
    auto r = served.back()->Request(kGet);
    ASSERT_TRUE(r.has_value()) << "round " << round;
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "round " << round;
  }
  // Three silent ones were evicted (oldest first), the rest are still open.
  int closed = 0;
  for (auto& s : silent) closed += s->WaitClosed(absl::Milliseconds(100));
  EXPECT_EQ(closed, 3);
  EXPECT_TRUE(server.StopAndWait(absl::Seconds(5)));
}

// With every connection mid-head (none idle), a new connection is refused
// as before; the busy connections are not evicted.
TEST(HttpListenerTest, ConnectionCapRefusesWhenNoConnectionIsIdle) {
  HttpListenerOptions options = TestOptions();
  options.max_connections = 8;
  TestServer server(Echo, options);
  std::vector<std::unique_ptr<Client>> busy;
  for (int i = 0; i < 8; ++i) {
    busy.push_back(std::make_unique<Client>(server.port()));
    ASSERT_TRUE(busy.back()->Send("GET /partial HTT"));
  }
  absl::SleepFor(absl::Milliseconds(200));  // all 8 reading a head
  {
    Client ninth(server.port());
    EXPECT_TRUE(ninth.WaitClosed(absl::Seconds(3)));
  }
  for (auto& client : busy) {
    auto r = client->Request("P/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_TRUE(server.StopAndWait(absl::Seconds(5)));
  EXPECT_THAT(server.AllLogs(), HasSubstr("error: connection limit (8)"));
}

// Out of file descriptors, accept fails every retry (every 50 ms): the log
// says so at most about once a second, not 20 lines a second for as long as
// a flood lasts, and the listener serves again once descriptors free up.
TEST(HttpListenerTest, AcceptFailuresAreLoggedAtMostOncePerSecond) {
  TestServer server(Echo, TestOptions());
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  std::vector<int> sockets;
  std::vector<int> fillers;
  {
    // This process holds both ends: open client sockets first, lower the
    // descriptor limit to what is in use, then connect them (the kernel
    // completes them in the backlog), so the listener's accept fails.
    for (int i = 0; i < 32; ++i) sockets.push_back(::socket(AF_INET, SOCK_STREAM, 0));
    rlimit low = saved;
    low.rlim_cur = 0;
    for (int fd = 0; fd < 4096; ++fd) {
      if (::fcntl(fd, F_GETFD) != -1) low.rlim_cur = fd + 1;
    }
    ASSERT_LE(low.rlim_cur, saved.rlim_cur);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    // Fill the holes below the limit too.
    for (int i = 0; i < 4096; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) break;
      fillers.push_back(fd);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int fd : sockets) {
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
                0);
    }
    absl::SleepFor(absl::Milliseconds(1500));
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  }
  size_t failures = 0;
  for (const std::string& line : server.Logs()) {
    if (line.find("accept failed") != std::string::npos) ++failures;
  }
  EXPECT_GE(failures, 1u);
  EXPECT_LE(failures, 3u) << server.AllLogs();
  for (int fd : fillers) ::close(fd);
  for (int fd : sockets) ::close(fd);
  bool served = false;
  for (int attempt = 0; attempt < 60 && !served; ++attempt) {
    Client client(server.port());
    auto r = client.Request(kGet);
    served = r.has_value() && r->status == 200;
    if (!served) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(served);
  EXPECT_TRUE(server.StopAndWait(absl::Seconds(5)));
}

}  // namespace
}  // namespace keygate::tool
