// tests/http_secret_scanning_test.cc: POST /secret-scanning/report, the
// leaked-token receiver, attacked as a forger would (bad, foreign, replayed
// or missing signatures), fed hostile reports (huge, deep, malformed, other
// prefixes), and run end to end through `keygate serve
// --secret-scanning-keys`.
//
// The scanner's key pair is made here with OpenSSL and reports are signed
// independently of the code under test; token hashes are checked against
// OpenSSL's SHA-256 (the receiver uses libsodium's).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keygate/errors.h"
#include "keygate/http/caller.h"
#include "keygate/http/jwt.h"
#include "keygate/http/management_api.h"
#include "keygate/http/scanner_signature.h"
#include "keygate/http/secret_scanning.h"
#include "lib/errors/payloads.h"
#include "nlohmann/json.hpp"
#include "tests/serve_test_util.h"
#include "tests/store_test_util.h"

namespace keygate::http {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kJwtKey[] = "secret-scanning-test-key-0123456789abcdef";
constexpr char kKeyId[] =
    "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";
constexpr char kOtherKeyId[] =
    "f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d";
constexpr std::string_view kOrgB = "org-b";

// ----- the scanner's side, written against OpenSSL directly ----------------

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey GenerateEcKey(const char* curve) {
  return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
}

std::string PublicPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  EXPECT_EQ(PEM_write_bio_PUBKEY(bio, key), 1);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

std::string Base64(std::string_view bin) {
  std::string out(
      sodium_base64_ENCODED_LEN(bin.size(), sodium_base64_VARIANT_ORIGINAL),
      '\0');
  sodium_bin2base64(out.data(), out.size(),
                    reinterpret_cast<const unsigned char*>(bin.data()),
                    bin.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// SignDer returns the DER ECDSA-SHA256 signature of `body` by `key`.
std::string SignDer(EVP_PKEY* key, std::string_view body) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key), 1);
  size_t size = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(body.data());
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &size, data, body.size()), 1);
  std::string sig(size, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()),
                           &size, data, body.size()),
            1);
  sig.resize(size);
  EVP_MD_CTX_free(ctx);
  return sig;
}

std::string Sign(EVP_PKEY* key, std::string_view body) {
  return Base64(SignDer(key, body));
}

std::string Sha256Hex(std::string_view value) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(value.data()), value.size(),
         digest);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string KeysDocument(
    const std::vector<std::pair<std::string, std::string>>& keys) {
  json list = json::array();
  for (const auto& [id, pem] : keys) {
    list.push_back(
        {{"key_identifier", id}, {"key", pem}, {"is_current", true}});
  }
  return json{{"public_keys", list}}.dump();
}

std::string Report(const std::vector<std::string>& tokens,
                   std::string type = "keygate_api_token") {
  json report = json::array();
  for (const std::string& token : tokens) {
    report.push_back({{"token", token},
                      {"type", type},
                      {"url", "https://github.com/octocat/hello/blob/1/a.txt"},
                      {"source", "content"}});
  }
  return report.dump();
}

// ----- a Store that counts Verify calls -------------------------------------

// CountingStore forwards every call to `inner` and counts Verify calls, to
// prove which reports reach the store.
class CountingStore : public Store {
 public:
  explicit CountingStore(Store* inner) : inner_(inner) {}
  int verify_calls() const { return verify_calls_.load(); }
  int revoke_calls() const { return revoke_calls_.load(); }

  absl::Status CatchUp() override { return inner_->CatchUp(); }
  absl::Status Close() override { return inner_->Close(); }
  std::string_view token_prefix() const override {
    return inner_->token_prefix();
  }
  absl::StatusOr<ServiceAccount> CreateServiceAccount(
      std::string_view o, const ServiceAccountSpec& s,
      std::string_view a) override {
    return inner_->CreateServiceAccount(o, s, a);
  }
  absl::StatusOr<ServiceAccount> GetServiceAccount(
      std::string_view o, std::string_view s) override {
    return inner_->GetServiceAccount(o, s);
  }
  absl::StatusOr<Page<ServiceAccount>> ListServiceAccounts(
      std::string_view o, const PageRequest& p) override {
    return inner_->ListServiceAccounts(o, p);
  }
  absl::StatusOr<ServiceAccount> UpdateServiceAccount(
      std::string_view o, std::string_view s, const ServiceAccountPatch& p,
      std::string_view a) override {
    return inner_->UpdateServiceAccount(o, s, p, a);
  }
  absl::StatusOr<ServiceAccount> RenameServiceAccount(
      std::string_view o, std::string_view s, std::string_view n,
      std::string_view a) override {
    return inner_->RenameServiceAccount(o, s, n, a);
  }
  absl::StatusOr<ServiceAccount> SetServiceAccountDisabled(
      std::string_view o, std::string_view s, bool d,
      std::string_view a) override {
    return inner_->SetServiceAccountDisabled(o, s, d, a);
  }
  absl::Status DeleteServiceAccount(std::string_view o, std::string_view s,
                                    std::string_view a) override {
    return inner_->DeleteServiceAccount(o, s, a);
  }
  absl::StatusOr<CreatedToken> CreateToken(std::string_view o,
                                           std::string_view s,
                                           const TokenSpec& t,
                                           std::string_view a) override {
    return inner_->CreateToken(o, s, t, a);
  }
  absl::StatusOr<Page<TokenMetadata>> ListTokens(
      std::string_view o, std::string_view s, const PageRequest& p) override {
    return inner_->ListTokens(o, s, p);
  }
  absl::Status RevokeToken(std::string_view o, std::string_view s,
                           std::string_view t, std::string_view a) override {
    ++revoke_calls_;
    return inner_->RevokeToken(o, s, t, a);
  }
  absl::StatusOr<CreatedToken> RotateToken(
      std::string_view o, std::string_view s, std::string_view t,
      absl::Duration g, std::string_view a,
      absl::FunctionRef<absl::Status(const TokenSpec&)> authorize) override {
    return inner_->RotateToken(o, s, t, g, a, authorize);
  }
  absl::StatusOr<Principal> Verify(std::string_view token,
                                   std::string_view scope) const override {
    ++verify_calls_;
    if (!verify_failure_.ok()) return verify_failure_;
    return inner_->Verify(token, scope);
  }
  // FailVerifyWith makes every Verify answer `status` (OK: forward again).
  void FailVerifyWith(absl::Status status) { verify_failure_ = std::move(status); }
  absl::StatusOr<PurgeResult> PurgeRetired() override {
    return inner_->PurgeRetired();
  }
  absl::StatusOr<EndpointWithSecret> CreateWebhookEndpoint(
      std::string_view o, const WebhookEndpointSpec& s,
      std::string_view a) override {
    return inner_->CreateWebhookEndpoint(o, s, a);
  }
  absl::StatusOr<WebhookEndpoint> GetWebhookEndpoint(
      std::string_view o, std::string_view id) override {
    return inner_->GetWebhookEndpoint(o, id);
  }
  absl::StatusOr<std::vector<WebhookEndpoint>> ListWebhookEndpoints(
      std::string_view o) override {
    return inner_->ListWebhookEndpoints(o);
  }
  absl::StatusOr<WebhookEndpoint> UpdateWebhookEndpoint(
      std::string_view o, std::string_view id, const WebhookEndpointPatch& p,
      std::string_view a) override {
    return inner_->UpdateWebhookEndpoint(o, id, p, a);
  }
  absl::Status DeleteWebhookEndpoint(std::string_view o, std::string_view id,
                                     std::string_view a) override {
    return inner_->DeleteWebhookEndpoint(o, id, a);
  }
  absl::StatusOr<EndpointWithSecret> RotateWebhookSecret(
      std::string_view o, std::string_view id, std::string_view a) override {
    return inner_->RotateWebhookSecret(o, id, a);
  }
  absl::StatusOr<SecretString> WebhookSigningSecret(
      std::string_view o, std::string_view id) override {
    return inner_->WebhookSigningSecret(o, id);
  }
  absl::StatusOr<std::vector<WebhookEndpoint>> ListAllWebhookEndpoints()
      override {
    return inner_->ListAllWebhookEndpoints();
  }
  absl::StatusOr<WebhookDeliveryState> GetWebhookDeliveryState(
      std::string_view o, std::string_view id) override {
    return inner_->GetWebhookDeliveryState(o, id);
  }
  absl::StatusOr<WebhookDeliveryState> RecordWebhookDelivery(
      std::string_view o, std::string_view id,
      const WebhookDeliveryUpdate& u) override {
    return inner_->RecordWebhookDelivery(o, id, u);
  }
  absl::StatusOr<std::vector<Event>> ReadEvents(uint64_t after,
                                                size_t max_count) override {
    return inner_->ReadEvents(after, max_count);
  }
  absl::Status AckEvents(uint64_t through) override {
    return inner_->AckEvents(through);
  }
  absl::StatusOr<uint64_t> AckedEventPosition() override {
    return inner_->AckedEventPosition();
  }
  absl::StatusOr<size_t> EmitDueEvents() override {
    return inner_->EmitDueEvents();
  }

 private:
  Store* inner_;
  mutable std::atomic<int> verify_calls_{0};
  std::atomic<int> revoke_calls_{0};
  absl::Status verify_failure_;
};

// ----- the fixture -----------------------------------------------------------

class SecretScanningTest : public test::StoreTest {
 protected:
  void SetUp() override {
    test::StoreTest::SetUp();
    ASSERT_GE(sodium_init(), 0);
    key_ = GenerateEcKey("P-256");
    other_key_ = GenerateEcKey("P-256");
    ASSERT_NE(key_, nullptr);
    ASSERT_NE(other_key_, nullptr);
    keys_file_ = dir_.Sub("scanner-keys.json");
    WriteFile(keys_file_, KeysDocument({{kKeyId, PublicPem(key_.get())}}));
    auto verifier = ScannerSignatureVerifier::FromKeysFile(keys_file_);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    counting_.emplace(store_.get());
    receiver_.emplace(&*counting_, *verifier);
    auto jwt = JwtVerifier::FromKey(kJwtKey);
    ASSERT_TRUE(jwt.ok()) << jwt.status();
    jwt_.emplace(*std::move(jwt));
    token_callers_.emplace(store_.get());
    jwt_callers_.emplace(&*jwt_, &clock_);
    callers_.emplace("kg_", &*token_callers_, &*jwt_callers_);
    Remount(/*enabled=*/true);
    ASSERT_TRUE(CreateAccount("bot").ok());
    ASSERT_TRUE(CreateAccount("bot", kOrgB).ok());
  }

  void TearDown() override {
    api_.reset();
    receiver_.reset();
    test::StoreTest::TearDown();
  }

  static void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }

  // Remount rebuilds the API with or without the receiver.
  void Remount(bool enabled, size_t max_body_bytes = 64 * 1024) {
    ManagementApiOptions options;
    options.max_body_bytes = max_body_bytes;
    if (enabled) options.secret_scanning = &*receiver_;
    api_.emplace(store_.get(), &*callers_, std::move(options));
  }

  // Live creates a live token in `org` and returns its value.
  std::string Live(std::string_view slug, std::string_view org = kOrg) {
    auto created =
        CreateToken("bot", "token " + std::string(slug), {"read:tokens"},
                    std::string(slug), std::nullopt, org);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? std::string(created->value.view()) : "";
  }

  Response Post(std::string body, std::vector<Header> headers,
                std::string* log = nullptr) {
    Request request;
    request.method = "POST";
    request.target = "/secret-scanning/report";
    request.headers = std::move(headers);
    request.headers.push_back({"Content-Type", "application/json"});
    request.body = std::move(body);
    return api_->Handle(request, log);
  }

  // PostSigned posts `body` signed by the scanner's key.
  Response PostSigned(const std::string& body, std::string* log = nullptr) {
    return Post(body,
                {{"Github-Public-Key-Identifier", kKeyId},
                 {"Github-Public-Key-Signature", Sign(key_.get(), body)}},
                log);
  }

  static json Body(const Response& r) {
    return json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  }

  bool Verifies(const std::string& token) { return store_->Verify(token).ok(); }

  std::string RevokedBy(std::string_view slug, std::string_view org = kOrg) {
    auto page = store_->ListTokens(org, "bot", PageRequest{});
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return "?";
    for (const TokenMetadata& t : page->items) {
      if (t.slug == slug) return t.revoked_by;
    }
    return "?";
  }

  // UnknownWellFormed returns a token of the store's format, with a valid
  // checksum, that the store no longer knows: made in a scratch account
  // which is then deleted (its tokens leave the store).
  std::string UnknownWellFormed() {
    EXPECT_TRUE(CreateAccount("scratch").ok());
    auto created = CreateToken("scratch", "scratch token");
    EXPECT_TRUE(created.ok());
    std::string value(created->value.view());
    EXPECT_TRUE(store_->DeleteServiceAccount(kOrg, "scratch", kActor).ok());
    return value;
  }

  Pkey key_;
  Pkey other_key_;
  std::string keys_file_;
  std::optional<CountingStore> counting_;
  std::optional<SecretScanningReceiver> receiver_;
  std::optional<JwtVerifier> jwt_;
  std::optional<TokenCallerResolver> token_callers_;
  std::optional<JwtCallerResolver> jwt_callers_;
  std::optional<BearerCallerResolver> callers_;
  std::optional<ManagementApi> api_;
};

// ----- the report revokes live tokens, across organizations ------------------

TEST_F(SecretScanningTest, SignedReportRevokesLiveTokensOfEveryOrganization) {
  const std::string a = Live("leaked-a");
  const std::string b = Live("leaked-b", kOrgB);
  const std::string bystander = Live("bystander");
  ASSERT_TRUE(Verifies(a));
  ASSERT_TRUE(Verifies(b));

  std::string log;
  Response r = PostSigned(Report({a, b}), &log);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.FindHeader("Content-Type").value_or(""), "application/json");
  json answer = Body(r);
  ASSERT_TRUE(answer.is_array()) << r.body;
  ASSERT_EQ(answer.size(), 2u) << r.body;
  EXPECT_EQ(answer[0], json({{"token_hash", Sha256Hex(a)},
                             {"token_type", "keygate_api_token"},
                             {"label", "true_positive"}}));
  EXPECT_EQ(answer[1], json({{"token_hash", Sha256Hex(b)},
                             {"token_type", "keygate_api_token"},
                             {"label", "true_positive"}}));

  EXPECT_FALSE(Verifies(a)) << "org A's leaked token still verifies";
  EXPECT_FALSE(Verifies(b)) << "org B's leaked token still verifies";
  EXPECT_TRUE(Verifies(bystander)) << "an unreported token was revoked";
  EXPECT_EQ(RevokedBy("leaked-a"), kRevokedByLeak);
  EXPECT_EQ(RevokedBy("leaked-b", kOrgB), kRevokedByLeak);
  EXPECT_EQ(RevokedBy("bystander"), "");

  // Neither the answer nor the log line carries a token value.
  for (const std::string& t : {a, b}) {
    EXPECT_THAT(r.body, Not(HasSubstr(t)));
    EXPECT_THAT(log, Not(HasSubstr(t)));
    EXPECT_THAT(log, Not(HasSubstr(t.substr(3, 20))));
  }
  EXPECT_THAT(log, HasSubstr("scanner_revoked=2"));
  EXPECT_THAT(log, HasSubstr("route=/secret-scanning/report"));
}

TEST_F(SecretScanningTest, ReportedAgainTheRevokedTokenIsAFalsePositive) {
  const std::string a = Live("leaked-a");
  ASSERT_EQ(PostSigned(Report({a})).status, 200);
  Response again = PostSigned(Report({a}));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Body(again)[0]["label"], "false_positive");
  EXPECT_EQ(Body(again)[0]["token_hash"], Sha256Hex(a));
  EXPECT_EQ(counting_->revoke_calls(), 1);
}

TEST_F(SecretScanningTest, DuplicateTokensAreHandledOnce) {
  const std::string a = Live("leaked-a");
  Response r = PostSigned(Report({a, a, a}));
  ASSERT_EQ(r.status, 200) << r.body;
  json answer = Body(r);
  ASSERT_EQ(answer.size(), 1u) << r.body;
  EXPECT_EQ(answer[0]["label"], "true_positive");
  EXPECT_EQ(counting_->verify_calls(), 1);
  EXPECT_EQ(counting_->revoke_calls(), 1);
}

TEST_F(SecretScanningTest, ATokenInItsRotationGraceIsRevoked) {
  const std::string old_token = Live("rotating");
  auto successor =
      store_->RotateToken(kOrg, "bot", "rotating", absl::Hours(1), kActor);
  ASSERT_TRUE(successor.ok()) << successor.status();
  ASSERT_TRUE(Verifies(old_token));
  Response r = PostSigned(Report({old_token}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)[0]["label"], "true_positive");
  EXPECT_FALSE(Verifies(old_token));
  EXPECT_TRUE(Verifies(std::string(successor->value.view())))
      << "the successor was not reported";
}

// ----- forged, foreign and missing signatures: 401, nothing changes ----------

TEST_F(SecretScanningTest, EveryBadSignatureIsTheSame401AndChangesNothing) {
  const std::string a = Live("leaked-a");
  const std::string body = Report({a});
  const std::string good = Sign(key_.get(), body);
  std::string der = SignDer(key_.get(), body);
  std::string flipped = der;
  flipped[flipped.size() - 1] ^= 0x01;
  std::string trailing = der + std::string(1, '\0');
  // Padding stripped when there is some (base64 without its mandatory
  // padding), one '=' too many when there is none.
  const std::string mis_padded =
      good.back() == '=' ? good.substr(0, good.find_last_not_of('=') + 1)
                         : good + "=";

  struct Case {
    const char* name;
    std::vector<Header> headers;
  };
  const std::vector<Case> cases = {
      {"no headers", {}},
      {"no signature", {{"Github-Public-Key-Identifier", kKeyId}}},
      {"no key id", {{"Github-Public-Key-Signature", good}}},
      {"signed by another key",
       {{"Github-Public-Key-Identifier", kKeyId},
        {"Github-Public-Key-Signature", Sign(other_key_.get(), body)}}},
      {"unknown key id",
       {{"Github-Public-Key-Identifier", kOtherKeyId},
        {"Github-Public-Key-Signature", good}}},
      {"empty key id",
       {{"Github-Public-Key-Identifier", ""},
        {"Github-Public-Key-Signature", good}}},
      {"signature over another body",
       {{"Github-Public-Key-Identifier", kKeyId},
        {"Github-Public-Key-Signature", Sign(key_.get(), body + " ")}}},
      {"flipped bit",
       {{"Github-Public-Key-Identifier", kKeyId},
        {"Github-Public-Key-Signature", Base64(flipped)}}},
      {"DER with trailing garbage",
       {{"Github-Public-Key-Identifier", kKeyId},
        {"Github-Public-Key-Signature", Base64(trailing)}}},
      {"not base64",
       {{"Github-Public-Key-Identifier", kKeyId},
        {"Github-Public-Key-Signature", "!!!not-base64!!!"}}},
      {"wrong padding",
       {{"Github-Public-Key-Identifier", kKeyId},
        {"Github-Public-Key-Signature", mis_padded}}},
      {"DER garbage",
       {{"Github-Public-Key-Identifier", kKeyId},
        {"Github-Public-Key-Signature", Base64("\x30\x02\x02\x00")}}},
      {"huge signature",
       {{"Github-Public-Key-Identifier", kKeyId},
        {"Github-Public-Key-Signature", std::string(100000, 'A')}}},
      {"repeated signature",
       {{"Github-Public-Key-Identifier", kKeyId},
        {"Github-Public-Key-Signature", good},
        {"Github-Public-Key-Signature", good}}},
      {"repeated key id",
       {{"Github-Public-Key-Identifier", kOtherKeyId},
        {"Github-Public-Key-Identifier", kKeyId},
        {"Github-Public-Key-Signature", good}}},
      {"a bearer token instead", {{"Authorization", "Bearer " + a}}},
  };
  std::string first_body;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string log;
    Response r = Post(body, c.headers, &log);
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(r.FindHeader("Content-Type").value_or(""),
              "application/problem+json");
    EXPECT_EQ(r.FindHeader("WWW-Authenticate").value_or(""),
              "Github-Public-Key-Signature realm=\"keygate\"");
    if (first_body.empty()) first_body = r.body;
    EXPECT_EQ(r.body, first_body) << "every refusal reads the same";
    EXPECT_THAT(log, HasSubstr("auth_failure=\"scanner signature: "));
    EXPECT_THAT(log, Not(HasSubstr(a)));
  }
  EXPECT_EQ(counting_->verify_calls(), 0)
      << "a forged report reached the store";
  EXPECT_EQ(counting_->revoke_calls(), 0);
  EXPECT_TRUE(Verifies(a));
  EXPECT_EQ(RevokedBy("leaked-a"), "");

  // The same body, properly signed, is accepted: the cases above failed on
  // their signature alone.
  ASSERT_EQ(PostSigned(body).status, 200);
  EXPECT_FALSE(Verifies(a));
}

TEST_F(SecretScanningTest, AKeyListedAmongSeveralVerifies) {
  WriteFile(keys_file_,
            KeysDocument({{kOtherKeyId, PublicPem(other_key_.get())},
                          {kKeyId, PublicPem(key_.get())}}));
  auto verifier = ScannerSignatureVerifier::FromKeysFile(keys_file_);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ(verifier->key_count(), 2u);
  const std::string body = "[]";
  EXPECT_TRUE(verifier->Verify(kKeyId, Sign(key_.get(), body), body).ok());
  EXPECT_TRUE(
      verifier->Verify(kOtherKeyId, Sign(other_key_.get(), body), body).ok());
  // A key id names exactly its own key.
  EXPECT_TRUE(absl::IsUnauthenticated(
      verifier->Verify(kOtherKeyId, Sign(key_.get(), body), body)));
}

// ----- what is not a live keygate token --------------------------------------

TEST_F(SecretScanningTest, OtherPrefixesAndBadChecksumsNeverReachTheStore) {
  const std::string a = Live("leaked-a");
  std::string bad_checksum = a;
  bad_checksum.back() = bad_checksum.back() == 'A' ? 'B' : 'A';
  std::string other_prefix = "xx_" + a.substr(3);
  const std::vector<std::string> tokens = {
      bad_checksum, other_prefix, "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
      "kg_",        a + "x",      std::string(5000, 'k')};
  Response r = PostSigned(Report(tokens));
  ASSERT_EQ(r.status, 200) << r.body;
  json answer = Body(r);
  ASSERT_EQ(answer.size(), tokens.size()) << r.body;
  for (size_t i = 0; i < tokens.size(); ++i) {
    EXPECT_EQ(answer[i]["label"], "false_positive") << i;
    EXPECT_EQ(answer[i]["token_hash"], Sha256Hex(tokens[i])) << i;
  }
  EXPECT_EQ(counting_->verify_calls(), 0)
      << "a string that is no keygate token was looked up";
  EXPECT_TRUE(Verifies(a));
}

TEST_F(SecretScanningTest, UnknownRevokedExpiredAndDisabledAreFalsePositives) {
  const std::string unknown = UnknownWellFormed();
  const std::string revoked = Live("revoked");
  ASSERT_TRUE(store_->RevokeToken(kOrg, "bot", "revoked", kActor).ok());
  auto expiring = CreateToken("bot", "expiring", {"read:tokens"}, "expiring",
                              clock_.Now() + absl::Minutes(1));
  ASSERT_TRUE(expiring.ok()) << expiring.status();
  const std::string expired(expiring->value.view());
  clock_.Advance(absl::Minutes(2));
  ASSERT_TRUE(CreateAccount("sleepy").ok());
  auto sleepy = CreateToken("sleepy", "sleepy token");
  ASSERT_TRUE(sleepy.ok());
  const std::string disabled(sleepy->value.view());
  ASSERT_TRUE(
      store_->SetServiceAccountDisabled(kOrg, "sleepy", true, kActor).ok());

  Response r = PostSigned(Report({unknown, revoked, expired, disabled}));
  ASSERT_EQ(r.status, 200) << r.body;
  json answer = Body(r);
  ASSERT_EQ(answer.size(), 4u) << r.body;
  for (const json& entry : answer) {
    EXPECT_EQ(entry["label"], "false_positive") << entry.dump();
  }
  EXPECT_EQ(counting_->verify_calls(), 4);
  EXPECT_EQ(counting_->revoke_calls(), 0);
  EXPECT_EQ(RevokedBy("revoked"), std::string(kActor)) << "revoker kept";
}

TEST_F(SecretScanningTest, AProcessOutOfItsFleetLeaseAnswersRetryNotAVerdict) {
  const std::string leaked = Live("leaked");
  // This process's lease lapsed (cut off from its fleet's database): its
  // 401 says nothing about the token, so no label may be given.
  counting_->FailVerifyWith(
      internal::VerifyError(VerifyFailure::kFleetLeaseLapsed));
  Response r = PostSigned(Report({leaked}));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.body.find("false_positive"), std::string::npos) << r.body;
  EXPECT_EQ(counting_->revoke_calls(), 0);
  // A status with no verdict at all is no verdict either.
  counting_->FailVerifyWith(internal::VerifyError(VerifyFailure::kNone));
  EXPECT_EQ(PostSigned(Report({leaked})).status, 503);
  // Back in its lease, the report revokes as usual.
  counting_->FailVerifyWith(absl::OkStatus());
  Response again = PostSigned(Report({leaked}));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Body(again)[0]["label"], "true_positive") << again.body;
  EXPECT_FALSE(Verifies(leaked));
}

// ----- hostile reports
// --------------------------------------------------------

TEST_F(SecretScanningTest, OversizeReportIs413BeforeAnySignatureWork) {
  Remount(/*enabled=*/true, /*max_body_bytes=*/1024);
  const std::string a = Live("leaked-a");
  std::vector<std::string> many(40, a);
  const std::string body = Report(many);
  ASSERT_GT(body.size(), 1024u);
  Response r = PostSigned(body);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(counting_->verify_calls(), 0);
  EXPECT_TRUE(Verifies(a));
}

TEST_F(SecretScanningTest, TooManyMatchesIs422AndNothingIsRevoked) {
  Remount(/*enabled=*/true, /*max_body_bytes=*/1 << 20);
  const std::string a = Live("leaked-a");
  std::vector<std::string> tokens(1001, "xx_not_a_token");
  tokens[0] = a;
  Response r = PostSigned(Report(tokens));
  ASSERT_EQ(r.status, 422) << r.body;
  json problem = Body(r);
  ASSERT_EQ(problem["errors"].size(), 1u) << r.body;
  EXPECT_EQ(problem["errors"][0]["location"], "body");
  EXPECT_THAT(problem["errors"][0]["message"].get<std::string>(),
              HasSubstr("1000"));
  EXPECT_EQ(counting_->verify_calls(), 0);
  EXPECT_TRUE(Verifies(a));

  // Exactly the limit is fine.
  tokens.pop_back();
  EXPECT_EQ(PostSigned(Report(tokens)).status, 200);
  EXPECT_FALSE(Verifies(a));
}

TEST_F(SecretScanningTest, DeepJsonIs422) {
  std::string deep = std::string(10000, '[') + std::string(10000, ']');
  Response r = PostSigned(deep);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(Body(r)["errors"][0]["location"], "body");
  std::string nested = R"([{"token":"x","type":"t","url":)" +
                       std::string(40, '[') + std::string(40, ']') + "}]";
  EXPECT_EQ(PostSigned(nested).status, 422);
}

TEST_F(SecretScanningTest, EveryElementIsValidatedBeforeAnyRevocation) {
  const std::string a = Live("leaked-a");
  json report = json::array();
  report.push_back({{"token", a}, {"type", "keygate_api_token"}});
  report.push_back({{"type", "keygate_api_token"}});                // no token
  report.push_back({{"token", 7}, {"type", "keygate_api_token"}});  // number
  report.push_back({{"token", a}});                                 // no type
  report.push_back("kg_just_a_string");
  report.push_back({{"token", a}, {"type", "t"}, {"url", {1, 2}}});
  report.push_back({{"token", ""}, {"type", "t"}});
  report.push_back({{"token", a}, {"type", std::string(300, 't')}});
  Response r = PostSigned(report.dump());
  ASSERT_EQ(r.status, 422) << r.body;
  std::vector<std::string> locations;
  const json problem = Body(r);
  for (const json& e : problem["errors"]) {
    locations.push_back(e.value("location", ""));
    EXPECT_FALSE(e.contains("value")) << e.dump();
  }
  EXPECT_THAT(locations,
              ::testing::ElementsAre("body[1].token", "body[2].token",
                                     "body[3].type", "body[4]", "body[5].url",
                                     "body[6].token", "body[7].type"));
  EXPECT_THAT(r.body, Not(HasSubstr(a)));
  EXPECT_EQ(counting_->verify_calls(), 0);
  EXPECT_TRUE(Verifies(a)) << "a bad element must stop the whole report";

  EXPECT_EQ(PostSigned(R"({"token":"x"})").status, 422) << "not an array";
  EXPECT_EQ(PostSigned("[{\"token\":").status, 400);
  EXPECT_EQ(PostSigned(R"([{"token":"a","token":"b","type":"t"}])").status,
            400);
  Response empty = PostSigned("[]");
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(empty.body, "[]");
}

TEST_F(SecretScanningTest, WrongMediaTypeIs415AfterTheSignature) {
  const std::string body = Report({"xx_1"});
  Request request;
  request.method = "POST";
  request.target = "/secret-scanning/report";
  request.headers = {{"Github-Public-Key-Identifier", kKeyId},
                     {"Github-Public-Key-Signature", Sign(key_.get(), body)},
                     {"Content-Type", "text/plain"}};
  request.body = body;
  EXPECT_EQ(api_->Handle(request).status, 415);
  request.headers[1].value = Sign(other_key_.get(), body);
  EXPECT_EQ(api_->Handle(request).status, 401) << "signature first";
}

// ----- mounting
// ---------------------------------------------------------------

TEST_F(SecretScanningTest, RouteIsAbsentUnlessEnabled) {
  const std::string a = Live("leaked-a");
  Remount(/*enabled=*/false);
  Request unknown;
  unknown.method = "POST";
  unknown.target = "/no-such-route";
  Response expected = api_->Handle(unknown);
  ASSERT_EQ(expected.status, 404);
  Response r = PostSigned(Report({a}));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, expected.body) << "reads like an unknown route";
  Request get;
  get.method = "GET";
  get.target = "/secret-scanning/report";
  Response got = api_->Handle(get);
  EXPECT_EQ(got.status, 404) << "no 405 that would reveal the route";
  EXPECT_FALSE(got.FindHeader("Allow").has_value());
  EXPECT_TRUE(Verifies(a));
  EXPECT_EQ(counting_->verify_calls(), 0);

  Remount(/*enabled=*/true);
  Response method = api_->Handle(get);
  EXPECT_EQ(method.status, 405);
  EXPECT_EQ(method.FindHeader("Allow").value_or(""), "POST");
}

// ----- the keys file
// ------------------------------------------------------------

TEST_F(SecretScanningTest, KeysFileRefusesAnythingButP256PublicKeys) {
  Pkey p384 = GenerateEcKey("P-384");
  Pkey ed25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  ASSERT_NE(p384, nullptr);
  ASSERT_NE(ed25519, nullptr);
  const std::string pem = PublicPem(key_.get());
  struct Case {
    const char* name;
    std::string document;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"not json", "{", "not valid JSON"},
      {"not an object", "[]", "public_keys"},
      {"no keys", R"({"public_keys":[]})", "non-empty"},
      {"P-384", KeysDocument({{kKeyId, PublicPem(p384.get())}}), "P-256"},
      {"Ed25519", KeysDocument({{kKeyId, PublicPem(ed25519.get())}}), "EC key"},
      {"garbage PEM",
       KeysDocument({{kKeyId,
                      "-----BEGIN PUBLIC KEY-----\nAAAA\n"
                      "-----END PUBLIC KEY-----\n"}}),
       "not a valid PEM"},
      {"two PEM blocks", KeysDocument({{kKeyId, pem + pem}}), "exactly one"},
      {"private key block",
       KeysDocument({{kKeyId,
                      "-----BEGIN PRIVATE KEY-----\nAAAA\n"
                      "-----END PRIVATE KEY-----\n"}}),
       "exactly one"},
      {"repeated id", KeysDocument({{kKeyId, pem}, {kKeyId, pem}}), "repeats"},
      {"empty id", KeysDocument({{"", pem}}), "key_identifier"},
      {"id with a space", KeysDocument({{"a b", pem}}), "key_identifier"},
      {"is_current not bool",
       json{{"public_keys",
             {{{"key_identifier", kKeyId}, {"key", pem}, {"is_current", 1}}}}}
           .dump(),
       "is_current"},
      {"key not a string",
       json{{"public_keys", {{{"key_identifier", kKeyId}, {"key", 1}}}}}.dump(),
       "key"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto parsed = ScannerSignatureVerifier::FromKeysJson(c.document);
    ASSERT_FALSE(parsed.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(parsed.status())) << parsed.status();
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.expect));
    EXPECT_THAT(std::string(parsed.status().message()), Not(HasSubstr("MFkw")))
        << "no key material in errors";
  }
  // A missing file, a directory and an oversize file.
  auto missing = ScannerSignatureVerifier::FromKeysFile(dir_.Sub("absent"));
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  auto directory = ScannerSignatureVerifier::FromKeysFile(dir_.path());
  EXPECT_TRUE(absl::IsInvalidArgument(directory.status()))
      << directory.status();
  WriteFile(dir_.Sub("huge"), std::string(kMaxScannerKeysFileBytes + 1, ' '));
  auto huge = ScannerSignatureVerifier::FromKeysFile(dir_.Sub("huge"));
  EXPECT_TRUE(absl::IsInvalidArgument(huge.status())) << huge.status();
  EXPECT_THAT(std::string(huge.status().message()), HasSubstr("larger"));
  // Unknown members are ignored (GitHub may add some).
  auto extra = ScannerSignatureVerifier::FromKeysJson(json{
      {"public_keys",
       {{{"key_identifier", kKeyId}, {"key", pem}, {"new", "x"}}}},
      {"other", 1}}.dump());
  EXPECT_TRUE(extra.ok()) << extra.status();
}

// ----- `keygate serve --secret-scanning-keys`
// ---------------------------------

class ServeSecretScanningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    key_ = GenerateEcKey("P-256");
    ASSERT_NE(key_, nullptr);
    keys_file_ = server_.dir() + "/scanner-keys.json";
    std::ofstream(keys_file_)
        << KeysDocument({{kKeyId, PublicPem(key_.get())}});
  }

  // LiveToken creates an account and token through the API.
  std::string LiveToken(httplib::Client& cli, const std::string& org) {
    const std::string jwt = server_.Jwt(org);
    auto sa = cli.Post("/service-accounts", tool::test::Bearer(jwt),
                       R"({"name":"Bot","slug":"bot"})", "application/json");
    EXPECT_TRUE(sa && sa->status == 201);
    auto t = cli.Post("/service-accounts/bot/tokens", tool::test::Bearer(jwt),
                      R"({"name":"ci","scopes":["read:tokens"]})",
                      "application/json");
    EXPECT_TRUE(t && t->status == 201);
    if (!t) return "";
    return json::parse(t->body).value("token", "");
  }

  httplib::Result PostReport(httplib::Client& cli, const std::string& body) {
    httplib::Headers headers = {
        {"Github-Public-Key-Identifier", kKeyId},
        {"Github-Public-Key-Signature", Sign(key_.get(), body)}};
    return cli.Post("/secret-scanning/report", headers, body,
                    "application/json");
  }

  tool::test::ServerProcess server_;
  Pkey key_;
  std::string keys_file_;
};

TEST_F(ServeSecretScanningTest, TheFlagEnablesTheRouteThatRevokes) {
  server_.Start({"--secret-scanning-keys", keys_file_});
  auto cli = server_.Client();
  const std::string a = LiveToken(*cli, "acme");
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(cli->Get("/whoami", tool::test::Bearer(a))->status, 200);

  auto forged = cli->Post(
      "/secret-scanning/report",
      {{"Github-Public-Key-Identifier", kKeyId},
       {"Github-Public-Key-Signature", Sign(key_.get(), Report({a}) + " ")}},
      Report({a}), "application/json");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401) << forged->body;
  ASSERT_EQ(cli->Get("/whoami", tool::test::Bearer(a))->status, 200);

  auto r = PostReport(*cli, Report({a}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json answer = json::parse(r->body);
  EXPECT_EQ(answer[0]["label"], "true_positive");
  EXPECT_EQ(answer[0]["token_hash"], Sha256Hex(a));
  EXPECT_EQ(cli->Get("/whoami", tool::test::Bearer(a))->status, 401);
  EXPECT_EQ(server_.Stop(), 0);
  EXPECT_THAT(server_.log(), Not(HasSubstr(a)));
  EXPECT_THAT(server_.log(), HasSubstr("secret scanning reports accepted"));
}

TEST_F(ServeSecretScanningTest, WithoutTheFlagTheRouteIs404) {
  server_.Start();
  auto cli = server_.Client();
  const std::string a = LiveToken(*cli, "acme");
  auto r = PostReport(*cli, Report({a}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
  EXPECT_EQ(cli->Get("/whoami", tool::test::Bearer(a))->status, 200);
}

TEST_F(ServeSecretScanningTest, ABadKeysFileStopsTheServerAtStart) {
  std::ofstream(keys_file_, std::ios::trunc) << R"({"public_keys":[]})";
  // Run the command directly: it must exit 1 and say why, before listening.
  std::string command =
      absl::StrCat("'", KEYGATE_BINARY, "' --data-dir '", server_.dir(),
                   "/data' serve --listen 127.0.0.1:0 --jwt-secret-file '",
                   server_.dir(), "/jwt-secret' --secret-scanning-keys '",
                   keys_file_, "' >'", server_.dir(), "/bad.log' 2>&1");
  int rc = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 1);
  EXPECT_THAT(tool::test::ReadFile(server_.dir() + "/bad.log"),
              HasSubstr("--secret-scanning-keys"));
}

}  // namespace
}  // namespace keygate::http
