// tests/embed_host_test.cc: examples/embed_host, a host on cpp-httplib that
// mounts keygate::http, driven over real HTTP: keygate's management API under
// /api, and the host's own GET /orders protected by VerifyBearer.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keygate/http/jwt.h"
#include "nlohmann/json.hpp"

namespace keygate {
namespace {

using nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class EmbedHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keygate_embed_host_XXXXXX";
    dir_ = mkdtemp(tmpl);
    {
      std::ofstream out(dir_ + "/jwt-secret");
      out << kKey;
    }
    chmod((dir_ + "/jwt-secret").c_str(), 0600);
    std::string port_file = dir_ + "/port";
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      int fd = open((dir_ + "/log").c_str(), O_WRONLY | O_CREAT, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      std::string data = dir_ + "/data", secret = dir_ + "/jwt-secret";
      execl(KEYGATE_EMBED_HOST_BINARY, KEYGATE_EMBED_HOST_BINARY, "--data-dir",
            data.c_str(), "--jwt-secret-file", secret.c_str(), "--port-file",
            port_file.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 600 && port_ == 0; ++i) {
      std::string text = ReadFile(port_file);
      if (!text.empty() && text.back() == '\n') port_ = std::stoi(text);
      else std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_NE(port_, 0) << ReadFile(dir_ + "/log");
    cli_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    cli_->set_read_timeout(30);
    auto jwt = http::MintJwt(kKey, "org", "acme", "alice", absl::Now(),
                             absl::Hours(1));
    ASSERT_TRUE(jwt.ok());
    jwt_ = *jwt;
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << ReadFile(dir_ + "/log");
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  static httplib::Headers Bearer(const std::string& credential) {
    return {{"Authorization", "Bearer " + credential}};
  }

  static constexpr char kKey[] = "embed-host-test-key-0123456789abcdef-0123";
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::unique_ptr<httplib::Client> cli_;
  std::string jwt_;
};

TEST_F(EmbedHostTest, ManagesTokensUnderApiAndProtectsItsOwnRoute) {
  auto account = cli_->Post("/api/service-accounts", Bearer(jwt_),
                            R"({"name":"Shop bot","slug":"shop-bot"})",
                            "application/json");
  ASSERT_TRUE(account);
  ASSERT_EQ(account->status, 201) << account->body;
  EXPECT_EQ(account->get_header_value("Location"),
            "/api/service-accounts/shop-bot");

  auto created =
      cli_->Post("/api/service-accounts/shop-bot/tokens", Bearer(jwt_),
                 R"({"name":"orders","slug":"orders","scopes":["read:orders"]})",
                 "application/json");
  ASSERT_EQ(created->status, 201) << created->body;
  std::string token = json::parse(created->body)["token"];
  auto other =
      cli_->Post("/api/service-accounts/shop-bot/tokens", Bearer(jwt_),
                 R"({"name":"tokens","scopes":["read:tokens"]})",
                 "application/json");
  ASSERT_EQ(other->status, 201);
  std::string unscoped = json::parse(other->body)["token"];

  auto orders = cli_->Get("/orders", Bearer(token));
  ASSERT_TRUE(orders);
  EXPECT_EQ(orders->status, 200) << orders->body;
  EXPECT_EQ(json::parse(orders->body)["organization"], "acme");

  auto anonymous = cli_->Get("/orders");
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(anonymous->get_header_value("Content-Type"),
            "application/problem+json");
  auto forbidden = cli_->Get("/orders", Bearer(unscoped));
  EXPECT_EQ(forbidden->status, 403);
  EXPECT_THAT(forbidden->get_header_value("WWW-Authenticate"),
              ::testing::HasSubstr("scope=\"read:orders\""));

  // The management API outside /api is not there.
  EXPECT_EQ(cli_->Get("/service-accounts", Bearer(jwt_))->status, 404);

  auto revoked = cli_->Delete("/api/service-accounts/shop-bot/tokens/orders",
                              Bearer(jwt_));
  EXPECT_EQ(revoked->status, 204);
  auto after = cli_->Get("/orders", Bearer(token));
  EXPECT_EQ(after->status, 401);
  EXPECT_EQ(after->get_header_value("WWW-Authenticate"),
            "Bearer realm=\"keygate\", error=\"invalid_token\"");
}

}  // namespace
}  // namespace keygate
