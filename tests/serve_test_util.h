// tests/serve_test_util.h: runs `keygate serve` as a child process for the
// HTTP tests (serve_test, serve_hardening_test). Header-only.
#ifndef KEYGATE_TESTS_SERVE_TEST_UTIL_H_
#define KEYGATE_TESTS_SERVE_TEST_UTIL_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "keygate/http/jwt.h"

namespace keygate::tool::test {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

inline constexpr char kProblemType[] = "application/problem+json";
inline constexpr char kChallenge[] = "Bearer realm=\"keygate\"";
inline constexpr char kInvalidTokenChallenge[] =
    "Bearer realm=\"keygate\", error=\"invalid_token\"";

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string B64Url(std::string_view bin) {
  std::string out(sodium_base64_ENCODED_LEN(
                      bin.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(),
                    reinterpret_cast<const unsigned char*>(bin.data()),
                    bin.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// SignHs256 builds a JWT from raw header and payload JSON, independently of
// the code under test.
inline std::string SignHs256(const std::string& header, const std::string& payload,
                      const std::string& key) {
  std::string input = B64Url(header) + "." + B64Url(payload);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(
      &st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(
      &st, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return input + "." +
         B64Url(std::string_view(reinterpret_cast<char*>(mac), sizeof mac));
}

inline std::string PercentEncode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

inline int64_t UnixNow() { return absl::ToUnixSeconds(absl::Now()); }

// ServerProcess runs `keygate serve` as a child process.
class ServerProcess {
 public:
  // Prepares a fresh directory with an initialized store and a JWT secret.
  ServerProcess() {
    char tmpl[] = "/tmp/keygate_serve_test_XXXXXX";
    dir_ = mkdtemp(tmpl);
    jwt_key_ = "test-jwt-secret-0123456789abcdef-0123456789abcdef";
    {
      std::ofstream out(dir_ + "/jwt-secret");
      out << jwt_key_ << "\n";
    }
    chmod((dir_ + "/jwt-secret").c_str(), 0600);
    std::string init = absl::StrCat("'", KEYGATE_BINARY, "' --data-dir '", dir_,
                                    "/data' init >'", dir_, "/init.log' 2>&1");
    init_rc_ = std::system(init.c_str());
  }

  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Start launches the server and waits for its port file.
  void Start(std::vector<std::string> extra = {}) {
    ASSERT_EQ(init_rc_, 0) << ReadFile(dir_ + "/init.log");
    std::string port_file = dir_ + "/port";
    unlink(port_file.c_str());
    std::vector<std::string> args = {
        KEYGATE_BINARY,      "--data-dir",         dir_ + "/data", "serve",
        "--listen",          "127.0.0.1:0",        "--port-file",  port_file,
        "--jwt-secret-file", dir_ + "/jwt-secret", "--threads",    "4"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string log = dir_ + "/serve.log";
    // Built before fork: the child only makes system calls until execv.
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 600; ++i) {
      std::string text = ReadFile(port_file);
      if (!text.empty() && text.back() == '\n') {
        port_ = std::stoi(text);
        return;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL() << "server exited early: " << ReadFile(log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "no port file; log: " << ReadFile(log);
  }

  // Stop sends `sig` and returns the exit code (or -signal).
  int Stop(int sig = SIGTERM) {
    if (pid_ <= 0) return -1000;
    kill(pid_, sig);
    int status = 0;
    for (int i = 0; i < 600; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        return -WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -2000;
  }

  std::unique_ptr<httplib::Client> Client() const {
    auto cli = std::make_unique<httplib::Client>("127.0.0.1", port_);
    cli->set_read_timeout(30);
    return cli;
  }

  std::string Jwt(const std::string& org, const std::string& sub = "alice",
                  absl::Duration ttl = absl::Hours(1)) const {
    absl::StatusOr<std::string> jwt =
        http::MintJwt(jwt_key_, "org", org, sub, absl::Now(), ttl);
    EXPECT_TRUE(jwt.ok()) << jwt.status();
    return jwt.ok() ? *jwt : "";
  }

  const std::string& jwt_key() const { return jwt_key_; }
  std::string log() const { return ReadFile(dir_ + "/serve.log"); }
  const std::string& dir() const { return dir_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  std::string dir_;
  std::string jwt_key_;
  int init_rc_ = -1;
  pid_t pid_ = -1;
  int port_ = 0;
};

inline httplib::Headers Bearer(const std::string& credential) {
  return {{"Authorization", "Bearer " + credential}};
}

inline json Json(const httplib::Result& res) {
  return json::parse(res->body, nullptr, false);
}

// ExpectProblem checks the common shape of a problem response.
inline void ExpectProblem(const httplib::Result& res, int status) {
  ASSERT_TRUE(res) << "transport error " << static_cast<int>(res.error());
  EXPECT_EQ(res->status, status) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), kProblemType);
  json body = Json(res);
  ASSERT_TRUE(body.is_object()) << res->body;
  EXPECT_EQ(body["status"], status) << res->body;
  EXPECT_TRUE(body["title"].is_string()) << res->body;
}

// ExpectErrorAt checks a 422 whose errors[] has an entry at `location`.
inline void ExpectErrorAt(const httplib::Result& res, const std::string& location,
                   int status = 422) {
  ExpectProblem(res, status);
  json body = Json(res);
  ASSERT_TRUE(body["errors"].is_array()) << res->body;
  bool found = false;
  for (const json& e : body["errors"]) {
    if (e.value("location", "") == location) found = true;
    EXPECT_TRUE(e["message"].is_string()) << res->body;
  }
  EXPECT_TRUE(found) << "no error at " << location << " in " << res->body;
}

// ConnectLoopback opens a TCP connection to 127.0.0.1:`port`; -1 on failure.
inline int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// RawExchange sends `request` bytes on a fresh connection and returns what
// the server answers before closing (or within a few seconds).
inline std::string RawExchange(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n =
        send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace keygate::tool::test

#endif  // KEYGATE_TESTS_SERVE_TEST_UTIL_H_
