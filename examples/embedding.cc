// examples/embedding.cc: keygate::http in a host's own server, without any
// HTTP library. README.md's "Embedding in your server" shows this file; a
// test (tests/embedding_example_test.cc) compiles and runs it.
#include <iostream>
#include <variant>

#include "keygate/http/http.h"
#include "keygate/keygate.h"

// The host's own identity: here a header its session layer set after login.
// A real host reads its session cookie, mTLS identity or IdP token instead.
class SessionCallers : public keygate::http::CallerResolver {
 public:
  std::variant<keygate::http::Caller, keygate::http::Problem> Resolve(
      const keygate::http::Request& request, std::string_view required_scope,
      std::string* why) const override {
    std::optional<std::string_view> user = request.FindHeader("X-Session-User");
    if (!user) return keygate::http::MissingCredentialsProblem();
    // Administrators of organization "acme" hold every scope.
    return keygate::http::Caller{.organization = "acme",
                                 .actor = std::string(*user)};
  }
};

int main() {
  if (absl::Status s = keygate::Keyring::CreateFile("embedding.pepper");
      !s.ok() && !absl::IsAlreadyExists(s)) {
    std::cerr << s << "\n";
    return 1;
  }
  auto keyring = keygate::Keyring::Load("embedding.pepper");
  if (!keyring.ok()) return 1;
  keygate::Options options;
  options.path = "embedding-data";
  options.keyring = *keyring;
  options.scope_modules = {"service_accounts", "tokens", "orders"};
  auto store = keygate::Store::Open(options);
  if (!store.ok()) {
    std::cerr << store.status() << "\n";
    return 1;
  }

  // Mount the management API under /api; your server calls Handle for every
  // request under it and sends back status, headers and body.
  SessionCallers sessions;
  keygate::http::ManagementApi api(store->get(), &sessions,
                                   {.path_prefix = "/api"});
  auto call = [&](std::string method, std::string target, std::string body) {
    keygate::http::Request request{.method = std::move(method),
                                   .target = std::move(target),
                                   .headers = {{"X-Session-User", "alice"}},
                                   .body = std::move(body)};
    if (!request.body.empty()) {
      request.headers.push_back({"Content-Type", "application/json"});
    }
    return api.Handle(request);
  };
  keygate::http::Response account = call(
      "POST", "/api/service-accounts", R"({"name":"Shop","slug":"shop"})");
  keygate::http::Response token =
      call("POST", "/api/service-accounts/shop/tokens",
           R"({"name":"orders","scopes":["read:orders"]})");
  std::cout << "created: " << account.status << " " << token.status << "\n";
  if (token.status != 201) return 1;
  // token.body holds the value, once; token.sensitive says to wipe copies.
  std::string value = token.body.substr(token.body.find("\"token\":\"") + 9);
  value.resize(value.find('"'));

  // Protect your own route: one call per request, in memory.
  keygate::http::Request orders{
      .method = "GET",
      .target = "/orders",
      .headers = {{"Authorization", "Bearer " + value}}};
  std::variant<keygate::Principal, keygate::http::Problem> who =
      keygate::http::VerifyBearer(**store, orders, "read:orders");
  if (auto* problem = std::get_if<keygate::http::Problem>(&who)) {
    keygate::http::Response refused = keygate::http::ProblemResponse(*problem);
    std::cout << "refused: " << refused.status << "\n";
    return 1;
  }
  std::cout << "orders for " << std::get<keygate::Principal>(who).organization()
            << "\n";
  return (*store)->Close().ok() ? 0 : 1;
}
