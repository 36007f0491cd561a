// fuzz/http_management_api_fuzzer.cc: keygate::http::ManagementApi::Handle
// on requests whose method, target, headers and body come from the fuzzer,
// over a store in a fresh temporary directory.
//
// The store is seeded with an account "fuzz-sa" of organization "acme" and a
// token holding every scope; a header value "$JWT" is replaced by a valid
// admin JWT of "acme" and "$TOKEN" by the seeded token, so the fuzzer gets
// past authentication into every handler. The store is reopened afresh every
// kInputsPerStore inputs, so state stays small.
//
// Invariants checked on every input:
//   - no crash, no exception, no out-of-bounds read (ASan);
//   - the status is a real HTTP status and never 500 (hostile input is a
//     client error, never an internal one);
//   - every 4xx is application/problem+json whose body is a JSON object with
//     the same `status`; a 401 carries WWW-Authenticate;
//   - neither the response body, its headers nor the log fields ever contain
//     the seeded token or the JWT (a 201 shows only its own new token, and
//     is then marked sensitive).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/time/time.h"
#include "fuzz/fuzz_util.h"
#include "keygate/http/caller.h"
#include "keygate/http/jwt.h"
#include "keygate/http/management_api.h"
#include "keygate/keygate.h"
#include "nlohmann/json.hpp"

namespace {

using keygate::fuzz::FuzzCheck;
using keygate::fuzz::FuzzInput;
namespace http = keygate::http;

constexpr size_t kMaxInputSize = 32 * 1024;
constexpr int kInputsPerStore = 256;
constexpr std::string_view kJwtKey = "keygate-fuzz-jwt-key-0123456789abcdef";
constexpr std::string_view kOrg = "acme";

constexpr std::string_view kMethods[] = {"GET",  "POST",    "PATCH", "DELETE",
                                         "HEAD", "OPTIONS", "PUT",   "get"};
constexpr std::string_view kTargets[] = {
    "/service-accounts",
    "/service-accounts/fuzz-sa",
    "/service-accounts/fuzz-sa/tokens",
    "/service-accounts/fuzz-sa/tokens/seed",
    "/service-accounts/other",
    "/whoami",
    "/auth/check",
    "/openapi.json",
    "/healthz",
    "/service-accounts?limit=",
    "/service-accounts/fuzz-sa/tokens?cursor=",
    "",
};
constexpr std::string_view kHeaderNames[] = {
    "Authorization", "Content-Type", "X-Keygate-Required-Scope",
    "authorization", "Accept",       "Content-Length"};

// Fixture: one store with its seeded credentials and the API over it.
struct Fixture {
  keygate::fuzz::TempDir dir;
  keygate::fuzz::ManualClock clock{absl::FromUnixSeconds(1796083200)};
  std::unique_ptr<keygate::Store> store;
  std::optional<http::JwtVerifier> verifier;
  std::unique_ptr<http::TokenCallerResolver> tokens;
  std::unique_ptr<http::JwtCallerResolver> jwts;
  std::unique_ptr<http::BearerCallerResolver> callers;
  std::unique_ptr<http::ManagementApi> api;
  std::string jwt;
  std::string token;  // the seeded token's value (a fuzzing-only secret)

  Fixture() {
    FuzzCheck(!dir.path().empty(), "temp dir");
    keygate::Options options;
    options.path = dir.path() + "/store";
    options.keyring = keygate::fuzz::FuzzKeyring();
    options.sync_writes = false;  // a fuzzing store needs no durability
    options.clock = &clock;
    auto opened = keygate::Store::Open(options);
    FuzzCheck(opened.ok(), "store opens");
    store = *std::move(opened);
    auto v = http::JwtVerifier::FromKey(kJwtKey);
    FuzzCheck(v.ok(), "JWT verifier");
    verifier.emplace(*std::move(v));
    tokens = std::make_unique<http::TokenCallerResolver>(store.get());
    jwts = std::make_unique<http::JwtCallerResolver>(&*verifier, &clock);
    callers = std::make_unique<http::BearerCallerResolver>(
        std::string(store->token_prefix()), tokens.get(), jwts.get());
    api = std::make_unique<http::ManagementApi>(store.get(), callers.get(),
                                                http::ManagementApiOptions{});
    auto minted = http::MintJwt(kJwtKey, "org", kOrg, "fuzzer", clock.Now(),
                                absl::Hours(1));
    FuzzCheck(minted.ok(), "mint JWT");
    jwt = *std::move(minted);
    FuzzCheck(store->CreateServiceAccount(kOrg, {"Fuzz SA", "fuzz-sa"}, "seed")
                  .ok(),
              "seed account");
    keygate::TokenSpec spec;
    spec.name = "seed";
    spec.slug = "seed";
    spec.scopes = {"write:*", "delete:service_accounts", "delete:tokens"};
    auto created = store->CreateToken(kOrg, "fuzz-sa", spec, "seed");
    FuzzCheck(created.ok(), "seed token");
    token = std::string(created->value.view());
  }

  ~Fixture() {
    api.reset();
    if (store) FuzzCheck(store->Close().ok(), "store closes");
  }
};

// The current fixture. Not a static object: RocksDB must be closed before
// its own statics are destroyed at exit, so DestroyFixture is registered with
// atexit after the first store has opened (atexit handlers run in reverse
// order of registration, interleaved with static destructors).
std::unique_ptr<Fixture>* current_fixture = nullptr;

void DestroyFixture() {
  delete current_fixture;
  current_fixture = nullptr;
}

std::unique_ptr<Fixture>& CurrentFixture() {
  if (current_fixture == nullptr) {
    current_fixture = new std::unique_ptr<Fixture>(std::make_unique<Fixture>());
    std::atexit(DestroyFixture);
  }
  return *current_fixture;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return !needle.empty() && haystack.find(needle) != std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputSize) return 0;
  static int inputs = 0;
  std::unique_ptr<Fixture>& fixture = CurrentFixture();
  if (++inputs % kInputsPerStore == 0) {
    fixture.reset();
    fixture = std::make_unique<Fixture>();
  }
  Fixture& f = *fixture;
  FuzzInput input(data, size);

  http::Request request;
  const uint8_t method = input.ConsumeByte();
  request.method = method < 8 ? std::string(kMethods[method])
                              : input.ConsumeString(16);
  const uint8_t target = input.ConsumeByte();
  request.target = target < std::size(kTargets)
                       ? std::string(kTargets[target])
                       : std::string();
  request.target += input.ConsumeString(256);
  const int header_count = input.ConsumeInRange(0, 6);
  for (int i = 0; i < header_count; ++i) {
    const uint8_t name = input.ConsumeByte();
    std::string header_name = name < std::size(kHeaderNames)
                                  ? std::string(kHeaderNames[name])
                                  : input.ConsumeString(32);
    std::string value = input.ConsumeString(512);
    if (value == "$JWT") value = "Bearer " + f.jwt;
    if (value == "$TOKEN") value = "Bearer " + f.token;
    if (value == "$SCOPE") value = "read:tokens";
    request.headers.push_back({std::move(header_name), std::move(value)});
  }
  request.body = std::string(input.ConsumeRest());

  std::string log_fields;
  http::Response response = f.api->Handle(request, &log_fields);

  // KEYGATE_FUZZ_VERBOSE=1 prints each answer (the log fields hold no
  // credential, by contract and by the check below).
  static const bool verbose = std::getenv("KEYGATE_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "%d%s\n", response.status, log_fields.c_str());
  FuzzCheck(response.status >= 100 && response.status <= 599,
            "real HTTP status");
  if (response.status >= 500) {
    std::fprintf(stderr, "status %d for %s %s\n", response.status,
                 request.method.c_str(), log_fields.c_str());
  }
  FuzzCheck(response.status < 500, "hostile input is never a 5xx");
  if (response.status >= 400) {
    const auto type = response.FindHeader("Content-Type");
    FuzzCheck(type && *type == keygate::http::kProblemContentType,
              "error is problem+json");
    const nlohmann::json body =
        nlohmann::json::parse(response.body, nullptr, false);
    FuzzCheck(!body.is_discarded() && body.is_object(),
              "problem body is a JSON object");
    FuzzCheck(body.contains("status") && body["status"] == response.status,
              "problem status matches the response");
  }
  if (response.status == 401) {
    FuzzCheck(response.FindHeader("WWW-Authenticate").has_value(),
              "401 carries WWW-Authenticate");
  }
  FuzzCheck(!Contains(response.body, f.token) && !Contains(response.body, f.jwt),
            "response body never holds a credential");
  for (const http::Header& h : response.headers) {
    FuzzCheck(!Contains(h.value, f.token) && !Contains(h.value, f.jwt),
              "response header never holds a credential");
  }
  FuzzCheck(!Contains(log_fields, f.token) && !Contains(log_fields, f.jwt),
            "log fields never hold a credential");
  if (response.status == 201 && Contains(response.body, "\"token\"")) {
    FuzzCheck(response.sensitive, "a new token's response is sensitive");
  }
  return 0;
}
