// tests/nginx_auth_request_test.cc: a real nginx (Debian's nginx-light) in
// front of a tiny upstream, asking `keygate serve`'s GET /auth/check through
// auth_request, configured as docs/serve.md shows. Everything runs on
// loopback in a temp dir; nginx is stopped by its PID.
#include <sys/stat.h>

#include <thread>

#include "tests/serve_test_util.h"

namespace keygate::tool {
namespace {

using namespace ::keygate::tool::test;  // NOLINT: the shared HTTP test kit

constexpr char kNginx[] = "/usr/sbin/nginx";

// FreePort returns a loopback port that was free a moment ago.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class NginxAuthRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    ASSERT_EQ(access(kNginx, X_OK), 0)
        << kNginx << " is missing: scripts/install-deps.sh installs nginx-light";
    server_.Start({"--scope-module", "orders", "--auth-check-scope-from-header"});

    // The upstream: echoes the identity headers nginx forwarded.
    upstream_.Get("/orders/list", [](const httplib::Request& req,
                                     httplib::Response& res) {
      json seen{
          {"organization", req.get_header_value("X-Keygate-Organization")},
          {"serviceAccount",
           req.get_header_value("X-Keygate-Service-Account")},
          {"authorization", req.has_header("Authorization")}};
      res.set_content(seen.dump(), "application/json");
    });
    upstream_port_ = upstream_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(upstream_port_, 0);
    upstream_thread_ = std::thread([this] { upstream_.listen_after_bind(); });

    dir_ = server_.dir() + "/nginx";
    mkdir(dir_.c_str(), 0700);
    nginx_port_ = FreePort();
    std::string conf = absl::StrCat(
        "daemon off;\nmaster_process off;\nworker_processes 1;\n",
        "pid ", dir_, "/nginx.pid;\nerror_log ", dir_, "/error.log info;\n",
        "events { worker_connections 64; }\n", "http {\n",
        "  access_log ", dir_, "/access.log;\n",
        "  client_body_temp_path ", dir_, "/body;\n",
        "  proxy_temp_path ", dir_, "/proxy;\n",
        "  fastcgi_temp_path ", dir_, "/fastcgi;\n",
        "  uwsgi_temp_path ", dir_, "/uwsgi;\n",
        "  scgi_temp_path ", dir_, "/scgi;\n",
        "  server {\n",
        "    listen 127.0.0.1:", nginx_port_, ";\n",
        // The snippet of docs/serve.md, with this test's ports.
        "    location = /_keygate_check {\n",
        "      internal;\n",
        "      proxy_pass http://127.0.0.1:", server_.port(), "/auth/check;\n",
        "      proxy_pass_request_body off;\n",
        "      proxy_set_header Content-Length \"\";\n",
        "      proxy_set_header X-Keygate-Required-Scope \"read:orders\";\n",
        "    }\n",
        "    location /orders/ {\n",
        "      auth_request /_keygate_check;\n",
        "      auth_request_set $kg_org $upstream_http_x_keygate_organization;\n",
        "      auth_request_set $kg_account "
        "$upstream_http_x_keygate_service_account;\n",
        "      proxy_set_header X-Keygate-Organization $kg_org;\n",
        "      proxy_set_header X-Keygate-Service-Account $kg_account;\n",
        "      proxy_set_header Authorization \"\";\n",
        "      proxy_pass http://127.0.0.1:", upstream_port_, ";\n",
        "    }\n", "  }\n", "}\n");
    {
      std::ofstream out(dir_ + "/nginx.conf");
      out << conf;
    }
    nginx_pid_ = fork();
    ASSERT_GE(nginx_pid_, 0);
    if (nginx_pid_ == 0) {
      int fd = open((dir_ + "/stderr").c_str(), O_WRONLY | O_CREAT, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      std::string prefix = dir_ + "/", conf_path = dir_ + "/nginx.conf",
                  error_log = dir_ + "/error.log";
      execl(kNginx, kNginx, "-p", prefix.c_str(), "-c", conf_path.c_str(),
            "-e", error_log.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    nginx_ = std::make_unique<httplib::Client>("127.0.0.1", nginx_port_);
    nginx_->set_read_timeout(10);
    for (int i = 0; i < 200; ++i) {
      if (nginx_->Get("/orders/list")) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "nginx did not start: " << ReadFile(dir_ + "/stderr")
           << ReadFile(dir_ + "/error.log");
  }

  void TearDown() override {
    if (nginx_pid_ > 0) {
      kill(nginx_pid_, SIGTERM);
      waitpid(nginx_pid_, nullptr, 0);
    }
    upstream_.stop();
    if (upstream_thread_.joinable()) upstream_thread_.join();
  }

  std::string Token(const std::string& account, const std::string& slug,
                    const std::string& scopes_json) {
    std::string jwt = server_.Jwt("acme");
    auto cli = server_.Client();
    cli->Post("/service-accounts", Bearer(jwt),
              json{{"name", account}, {"slug", account}}.dump(),
              "application/json");
    auto res = cli->Post("/service-accounts/" + account + "/tokens", Bearer(jwt),
                         absl::StrCat(R"({"name":")", slug, R"(","slug":")",
                                      slug, R"(","scopes":)", scopes_json, "}"),
                         "application/json");
    EXPECT_EQ(res->status, 201) << res->body;
    return Json(res).value("token", "");
  }

  ServerProcess server_;
  httplib::Server upstream_;
  std::thread upstream_thread_;
  int upstream_port_ = 0;
  std::string dir_;
  int nginx_port_ = 0;
  pid_t nginx_pid_ = -1;
  std::unique_ptr<httplib::Client> nginx_;
};

TEST_F(NginxAuthRequestTest, OnlyAValidScopedTokenReachesTheUpstream) {
  std::string reader = Token("shop", "orders-reader", R"(["read:orders"])");
  std::string other = Token("shop", "tokens-reader", R"(["read:tokens"])");

  auto ok = nginx_->Get("/orders/list", Bearer(reader));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body << ReadFile(dir_ + "/error.log");
  json seen = Json(ok);
  EXPECT_EQ(seen["organization"], "acme");
  EXPECT_EQ(seen["serviceAccount"], "shop");
  EXPECT_EQ(seen["authorization"], false) << "the token stops at nginx";

  // Identity headers a client sends are replaced by nginx's.
  httplib::Headers spoof = Bearer(reader);
  spoof.emplace("X-Keygate-Organization", "globex");
  EXPECT_EQ(Json(nginx_->Get("/orders/list", spoof))["organization"], "acme");

  // Unscoped: 403, even when the client names a weaker scope itself.
  EXPECT_EQ(nginx_->Get("/orders/list", Bearer(other))->status, 403);
  httplib::Headers weaker = Bearer(other);
  weaker.emplace("X-Keygate-Required-Scope", "read:tokens");
  EXPECT_EQ(nginx_->Get("/orders/list", weaker)->status, 403);
  EXPECT_EQ(nginx_->Get("/orders/list?scope=read:tokens", Bearer(other))
                ->status,
            403);

  // No token, a bad token, a revoked token: 401.
  EXPECT_EQ(nginx_->Get("/orders/list")->status, 401);
  EXPECT_EQ(nginx_->Get("/orders/list", Bearer(reader + "x"))->status, 401);
  auto cli = server_.Client();
  ASSERT_EQ(cli->Delete("/service-accounts/shop/tokens/orders-reader",
                        Bearer(server_.Jwt("acme")))
                ->status,
            204);
  EXPECT_EQ(nginx_->Get("/orders/list", Bearer(reader))->status, 401);
}

}  // namespace
}  // namespace keygate::tool
