// tests/store_webhook_test.cc: webhook endpoints in the store: CRUD scoped
// by organization, the signing secret shown once and stored only sealed,
// the per-organization cap, and bad input changing nothing.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "keygate/store.h"
#include "keygate/webhook.h"
#include "lib/storage/keys.h"
#include "lib/webhooks/secret_box.h"
#include "lib/webhooks/signature.h"
#include "tests/store_test_util.h"

namespace keygate {
namespace {

using test::HasFieldError;

WebhookEndpointSpec Spec(std::string url = "https://hooks.example.com/kg") {
  WebhookEndpointSpec spec;
  spec.url = std::move(url);
  spec.event_names = {"token.created", "token.revoked"};
  spec.description = "audit sink";
  return spec;
}

class StoreWebhookTest : public test::StoreTest {
 protected:
  absl::StatusOr<EndpointWithSecret> Create(
      std::string_view org = kOrg, WebhookEndpointSpec spec = Spec()) {
    return store_->CreateWebhookEndpoint(org, spec, kActor);
  }
};

TEST_F(StoreWebhookTest, CreateGetListUpdateDelete) {
  KG_ASSERT_OK_AND_ASSIGN(EndpointWithSecret created, Create());
  const WebhookEndpoint& e = created.endpoint;
  EXPECT_TRUE(IsValidWebhookId(e.id)) << e.id;
  EXPECT_EQ(e.organization, kOrg);
  EXPECT_EQ(e.url, "https://hooks.example.com/kg");
  EXPECT_EQ(e.event_names,
            (std::vector<std::string>{"token.created", "token.revoked"}));
  EXPECT_EQ(e.description, "audit sink");
  EXPECT_FALSE(e.disabled);
  EXPECT_EQ(e.created_by, kActor);
  EXPECT_EQ(e.created_at, clock_.Now());
  EXPECT_EQ(created.signing_secret.view().substr(0, 6), "whsec_");
  KG_EXPECT_OK(webhooks::DecodeSigningSecret(created.signing_secret.view()));

  KG_ASSERT_OK_AND_ASSIGN(WebhookEndpoint got,
                          store_->GetWebhookEndpoint(kOrg, e.id));
  EXPECT_EQ(got.url, e.url);
  EXPECT_EQ(got.event_names, e.event_names);
  EXPECT_EQ(got.created_at, e.created_at);

  KG_ASSERT_OK_AND_ASSIGN(EndpointWithSecret second, Create());
  KG_ASSERT_OK_AND_ASSIGN(std::vector<WebhookEndpoint> all,
                          store_->ListWebhookEndpoints(kOrg));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_LT(all[0].id, all[1].id);

  clock_.Advance(absl::Seconds(5));
  WebhookEndpointPatch patch;
  patch.url = "https://other.example.com/x";
  patch.event_names = std::vector<std::string>{"service_account.deleted"};
  patch.disabled = true;
  KG_ASSERT_OK_AND_ASSIGN(
      WebhookEndpoint updated,
      store_->UpdateWebhookEndpoint(kOrg, e.id, patch, "user:bob"));
  EXPECT_EQ(updated.url, "https://other.example.com/x");
  EXPECT_EQ(updated.event_names,
            std::vector<std::string>{"service_account.deleted"});
  EXPECT_EQ(updated.description, "audit sink");
  EXPECT_TRUE(updated.disabled);
  EXPECT_EQ(updated.updated_by, "user:bob");
  EXPECT_EQ(updated.updated_at, clock_.Now());
  EXPECT_EQ(updated.created_at, e.created_at);

  KG_ASSERT_OK(store_->DeleteWebhookEndpoint(kOrg, e.id, kActor));
  EXPECT_EQ(store_->GetWebhookEndpoint(kOrg, e.id).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteWebhookEndpoint(kOrg, e.id, kActor).code(),
            absl::StatusCode::kNotFound);
  KG_ASSERT_OK_AND_ASSIGN(all, store_->ListWebhookEndpoints(kOrg));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, second.endpoint.id);
}

TEST_F(StoreWebhookTest, AnotherOrganizationsEndpointIsAbsent) {
  KG_ASSERT_OK_AND_ASSIGN(EndpointWithSecret created, Create());
  const std::string& id = created.endpoint.id;
  constexpr std::string_view kOther = "org-other";
  EXPECT_EQ(store_->GetWebhookEndpoint(kOther, id).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->UpdateWebhookEndpoint(kOther, id, {{}, {}, "x", {}}, kActor)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->RotateWebhookSecret(kOther, id, kActor).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->WebhookSigningSecret(kOther, id).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteWebhookEndpoint(kOther, id, kActor).code(),
            absl::StatusCode::kNotFound);
  KG_ASSERT_OK_AND_ASSIGN(std::vector<WebhookEndpoint> other,
                          store_->ListWebhookEndpoints(kOther));
  EXPECT_TRUE(other.empty());
  // A prefix of the organization id is another organization too.
  KG_ASSERT_OK_AND_ASSIGN(other, store_->ListWebhookEndpoints("org-tes"));
  EXPECT_TRUE(other.empty());
  KG_EXPECT_OK(store_->GetWebhookEndpoint(kOrg, id));
}

TEST_F(StoreWebhookTest, SecretIsRetrievableForSigningAndRotates) {
  KG_ASSERT_OK_AND_ASSIGN(EndpointWithSecret created, Create());
  const std::string id = created.endpoint.id;
  KG_ASSERT_OK_AND_ASSIGN(SecretString stored,
                          store_->WebhookSigningSecret(kOrg, id));
  EXPECT_EQ(stored.view(), created.signing_secret.view());

  clock_.Advance(absl::Minutes(1));
  KG_ASSERT_OK_AND_ASSIGN(EndpointWithSecret rotated,
                          store_->RotateWebhookSecret(kOrg, id, "user:bob"));
  EXPECT_NE(rotated.signing_secret.view(), created.signing_secret.view());
  EXPECT_EQ(rotated.endpoint.secret_created_at, clock_.Now());
  EXPECT_EQ(rotated.endpoint.updated_by, "user:bob");
  KG_ASSERT_OK_AND_ASSIGN(stored, store_->WebhookSigningSecret(kOrg, id));
  EXPECT_EQ(stored.view(), rotated.signing_secret.view());

  // Survives a reopen, and a pepper rotation: the old pepper still opens it,
  // and the next rotation seals under the new one.
  Options options = DefaultOptions();
  options.keyring =
      test::ParseKeyringOrDie({{1, test::kPepperHex1}, {2, test::kPepperHex2}});
  KG_ASSERT_OK(Reopen(options));
  KG_ASSERT_OK_AND_ASSIGN(stored, store_->WebhookSigningSecret(kOrg, id));
  EXPECT_EQ(stored.view(), rotated.signing_secret.view());
  KG_ASSERT_OK_AND_ASSIGN(EndpointWithSecret again,
                          store_->RotateWebhookSecret(kOrg, id, kActor));
  KG_ASSERT_OK_AND_ASSIGN(stored, store_->WebhookSigningSecret(kOrg, id));
  EXPECT_EQ(stored.view(), again.signing_secret.view());
}

TEST_F(StoreWebhookTest, SecretIsNeverStoredInPlaintext) {
  SKIP_IF_POSTGRES("scans the RocksDB files (PostgreSQL holds the same sealed records)");
  std::vector<std::string> needles;
  for (int i = 0; i < 5; ++i) {
    KG_ASSERT_OK_AND_ASSIGN(EndpointWithSecret created, Create());
    KG_ASSERT_OK_AND_ASSIGN(
        EndpointWithSecret rotated,
        store_->RotateWebhookSecret(kOrg, created.endpoint.id, kActor));
    for (const SecretString* s :
         {&created.signing_secret, &rotated.signing_secret}) {
      needles.emplace_back(s->view().substr(6));  // the base64 key
      KG_ASSERT_OK_AND_ASSIGN(SecretString key,
                              webhooks::DecodeSigningSecret(s->view()));
      needles.emplace_back(key.view().substr(0, 16));  // raw key bytes
    }
  }
  KG_ASSERT_OK(store_->Close());
  store_.reset();
  size_t scanned = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(StorePath())) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
    scanned += bytes.size();
    for (const std::string& needle : needles) {
      EXPECT_EQ(bytes.find(needle), std::string::npos)
          << "a signing secret in " << entry.path();
    }
  }
  EXPECT_GT(scanned, 0u);
}

TEST_F(StoreWebhookTest, SealedSecretIsBoundToItsEndpointAndPepper) {
  auto keyring = test::ParseKeyringOrDie({{1, test::kPepperHex1}});
  std::string ad = storage::WebhookKey("org-a", "wh_x");
  KG_ASSERT_OK_AND_ASSIGN(std::string sealed,
                          webhooks::SealSecret(*keyring, 1, ad, "whsec_abc"));
  EXPECT_EQ(sealed.find("whsec_abc"), std::string::npos);
  KG_ASSERT_OK_AND_ASSIGN(SecretString opened,
                          webhooks::OpenSecret(*keyring, 1, ad, sealed));
  EXPECT_EQ(opened.view(), "whsec_abc");
  EXPECT_EQ(webhooks::OpenSecret(*keyring, 1,
                                 storage::WebhookKey("org-b", "wh_x"), sealed)
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
  auto other = test::ParseKeyringOrDie({{1, test::kPepperHex2}});
  EXPECT_EQ(webhooks::OpenSecret(*other, 1, ad, sealed).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(webhooks::OpenSecret(*keyring, 2, ad, sealed).status().code(),
            absl::StatusCode::kFailedPrecondition);
  std::string tampered = sealed;
  tampered.back() ^= 1;
  EXPECT_EQ(webhooks::OpenSecret(*keyring, 1, ad, tampered).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(StoreWebhookTest, PerOrganizationCap) {
  Options options = DefaultOptions();
  options.max_webhook_endpoints_per_organization = 3;
  KG_ASSERT_OK(Reopen(options));
  for (int i = 0; i < 3; ++i) KG_ASSERT_OK(Create());
  EXPECT_EQ(Create().status().code(), absl::StatusCode::kResourceExhausted);
  KG_EXPECT_OK(Create("org-other"));  // per organization
  options.max_webhook_endpoints_per_organization = 0;
  EXPECT_EQ(Reopen(options).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(StoreWebhookTest, BadInputNamesEachFieldAndChangesNothing) {
  WebhookEndpointSpec spec = Spec("http://169.254.169.254/latest");
  spec.event_names = {"token.created", "token.exploded", "token.created"};
  spec.description = "bell\x07";
  absl::Status status = Create(kOrg, spec).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasFieldError(status, "url")) << status;
  EXPECT_TRUE(HasFieldError(status, "eventNames[1]")) << status;
  EXPECT_TRUE(HasFieldError(status, "eventNames[2]")) << status;
  EXPECT_TRUE(HasFieldError(status, "description")) << status;

  spec = Spec();
  spec.event_names.clear();
  EXPECT_TRUE(HasFieldError(Create(kOrg, spec).status(), "eventNames"));
  spec = Spec();
  spec.description = std::string(kMaxWebhookDescriptionSize + 1, 'a');
  EXPECT_TRUE(HasFieldError(Create(kOrg, spec).status(), "description"));
  EXPECT_TRUE(HasFieldError(Create("", Spec()).status(), "organization"));
  EXPECT_TRUE(HasFieldError(
      store_->CreateWebhookEndpoint(kOrg, Spec(), "").status(), "actor"));

  KG_ASSERT_OK_AND_ASSIGN(EndpointWithSecret created, Create());
  WebhookEndpointPatch patch;
  patch.url = "http://localhost/";
  status = store_->UpdateWebhookEndpoint(kOrg, created.endpoint.id, patch,
                                         kActor)
               .status();
  EXPECT_TRUE(HasFieldError(status, "url")) << status;
  const std::string with_nul("wh_aaaaaaaaaaaaaaaaaaaaaaaaa\0", 29);
  for (std::string_view bad_id :
       {std::string_view(""), std::string_view("wh_"),
        std::string_view("wh_AAAAAAAAAAAAAAAAAAAAAAAAAA"),
        std::string_view("../etc/passwd"), std::string_view(with_nul),
        std::string_view("wh_aaaaaaaaaaaaaaaaaaaaaaaaaa1")}) {
    EXPECT_TRUE(HasFieldError(
        store_->GetWebhookEndpoint(kOrg, bad_id).status(), "webhookId"))
        << bad_id;
  }
  KG_ASSERT_OK_AND_ASSIGN(WebhookEndpoint unchanged,
                          store_->GetWebhookEndpoint(kOrg, created.endpoint.id));
  EXPECT_EQ(unchanged.url, created.endpoint.url);
  KG_ASSERT_OK_AND_ASSIGN(std::vector<WebhookEndpoint> all,
                          store_->ListWebhookEndpoints(kOrg));
  EXPECT_EQ(all.size(), 1u);
}

TEST_F(StoreWebhookTest, ClosedStoreRefuses) {
  KG_ASSERT_OK_AND_ASSIGN(EndpointWithSecret created, Create());
  KG_ASSERT_OK(store_->Close());
  EXPECT_EQ(Create().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->ListWebhookEndpoints(kOrg).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      store_->WebhookSigningSecret(kOrg, created.endpoint.id).status().code(),
      absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace keygate
