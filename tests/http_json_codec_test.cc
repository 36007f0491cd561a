// tests/http_json_codec_test.cc: unit tests of the JSON wire format of the
// host adapter (lib/http/json_codec.h).
#include "lib/http/json_codec.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "keygate/errors.h"

namespace keygate::http {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

json Parse(const std::string& text) {
  std::string why;
  std::optional<json> parsed = ParseJsonObject(text, why);
  EXPECT_TRUE(parsed.has_value()) << why;
  return parsed.value_or(json::object());
}

std::vector<std::string> FieldsOf(const absl::Status& status) {
  std::vector<std::string> fields;
  for (const FieldError& e : FieldErrorsOf(status)) fields.push_back(e.field);
  return fields;
}

TEST(FormatRfc3339Test, UtcWithZAndMicroseconds) {
  absl::Time t = absl::FromUnixSeconds(1767323045);  // 2026-01-02T03:04:05Z
  EXPECT_EQ(FormatRfc3339(t), "2026-01-02T03:04:05Z");
  EXPECT_EQ(
      FormatRfc3339(t + absl::Microseconds(123456) + absl::Nanoseconds(789)),
      "2026-01-02T03:04:05.123456Z");
  EXPECT_EQ(FormatRfc3339(t + absl::Milliseconds(500)),
            "2026-01-02T03:04:05.5Z");
}

TEST(ParseJsonObjectTest, RefusesEverythingButOneObject) {
  for (const std::string& text :
       {std::string(""), std::string("[]"), std::string("1"),
        std::string("null"), std::string("{"), std::string("{} {}"),
        std::string("{\"a\":\"\xc0\xaf\"}"), std::string("{\"a\":1,\"a\":2}"),
        std::string("{\"o\":{\"b\":1,\"b\":1}}")}) {
    std::string why;
    EXPECT_FALSE(ParseJsonObject(text, why).has_value()) << text;
    EXPECT_FALSE(why.empty());
  }
  // The same key in different objects is fine.
  std::string why;
  EXPECT_TRUE(
      ParseJsonObject(R"({"a":{"k":1},"b":{"k":2},"k":3})", why).has_value());
}

TEST(DecodeServiceAccountSpecTest, ReadsNameAndOptionalSlug) {
  absl::StatusOr<ServiceAccountSpec> spec =
      DecodeServiceAccountSpec(Parse(R"({"name":"CI","slug":"ci-bot"})"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "CI");
  EXPECT_EQ(spec->slug, "ci-bot");
  spec = DecodeServiceAccountSpec(Parse(R"({"name":"CI","slug":null})"));
  ASSERT_TRUE(spec.ok());
  EXPECT_FALSE(spec->slug.has_value());
}

TEST(DecodeServiceAccountSpecTest, ReportsEveryBadMember) {
  absl::Status status =
      DecodeServiceAccountSpec(Parse(R"({"slug":5,"extra":true})")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(FieldsOf(status), UnorderedElementsAre("slug", "extra", "name"));
  status = DecodeServiceAccountSpec(Parse(R"({"name":null})")).status();
  EXPECT_THAT(FieldsOf(status), ElementsAre("name"));
}

TEST(DecodeServiceAccountPatchTest, OptionalMembers) {
  absl::StatusOr<ServiceAccountPatch> patch =
      DecodeServiceAccountPatch(Parse("{}"));
  ASSERT_TRUE(patch.ok());
  EXPECT_FALSE(patch->name.has_value());
  EXPECT_FALSE(patch->disabled.has_value());
  patch = DecodeServiceAccountPatch(Parse(R"({"name":"n","disabled":false})"));
  ASSERT_TRUE(patch.ok());
  EXPECT_EQ(patch->name, "n");
  EXPECT_EQ(patch->disabled, false);
  EXPECT_THAT(FieldsOf(DecodeServiceAccountPatch(
                           Parse(R"({"disabled":0,"name":[],"slug":"x"})"))
                           .status()),
              UnorderedElementsAre("disabled", "name", "slug"));
}

TEST(DecodeTokenSpecTest, ReadsEveryMember) {
  absl::StatusOr<TokenSpec> spec = DecodeTokenSpec(
      Parse(R"({"name":"t","slug":"t-1","scopes":["read:tokens","write:*"],)"
            R"("expiresAt":"2030-01-02T03:04:05+02:00"})"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "t");
  EXPECT_EQ(spec->slug, "t-1");
  EXPECT_THAT(spec->scopes, ElementsAre("read:tokens", "write:*"));
  ASSERT_TRUE(spec->expires_at.has_value());
  EXPECT_EQ(*spec->expires_at, absl::FromUnixSeconds(1893546245));
}

TEST(DecodeTokenSpecTest, LocatesBadScopesAndExpiry) {
  absl::Status status =
      DecodeTokenSpec(
          Parse(
              R"({"name":"t","scopes":["read:tokens",1,null],"expiresAt":"x"})"))
          .status();
  EXPECT_THAT(FieldsOf(status),
              UnorderedElementsAre("scopes[1]", "scopes[2]", "expiresAt"));
  status = DecodeTokenSpec(Parse(R"({"scopes":{}})")).status();
  EXPECT_THAT(FieldsOf(status), UnorderedElementsAre("scopes", "name"));
  status = DecodeTokenSpec(Parse(R"({"name":"t"})")).status();
  EXPECT_THAT(FieldsOf(status), ElementsAre("scopes"));
  // A NUL inside the timestamp is refused, not cut short.
  status =
      DecodeTokenSpec(Parse(R"({"name":"t","scopes":[],)"
                            R"("expiresAt":"2030-01-02T03:04:05Z\u0000junk"})"))
          .status();
  EXPECT_THAT(FieldsOf(status), ElementsAre("expiresAt"));
}

TEST(DecodeTokenSpecTest, ErrorValuesAreBounded) {
  std::string huge(10000, 'x');
  absl::Status status =
      DecodeTokenSpec(Parse(R"({"name":")" + huge + R"(","scopes":[)" +
                            "{\"k\":\"" + huge + "\"}]}"))
          .status();
  std::vector<FieldError> errors = FieldErrorsOf(status);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "scopes[0]");
  EXPECT_LE(errors[0].value.size(), 256u);
}

TEST(DecodePageRequestTest, LimitAndCursor) {
  absl::StatusOr<PageRequest> page =
      DecodePageRequest(std::nullopt, std::nullopt);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->limit, PageRequest{}.limit);
  EXPECT_THAT(page->cursor, IsEmpty());
  page = DecodePageRequest("1000", "abc");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->limit, 1000u);
  EXPECT_EQ(page->cursor, "abc");
  for (const char* bad :
       {"0", "1001", "", "+5", " 5", "5x", "0x10", "99999999999999999999"}) {
    absl::Status status =
        DecodePageRequest(std::string(bad), std::nullopt).status();
    EXPECT_THAT(FieldsOf(status), ElementsAre("limit")) << bad;
  }
}

TEST(EncodeTest, TokenMetadataHasNullsNeverTheValue) {
  TokenMetadata m;
  m.organization = "acme";
  m.service_account = "sa";
  m.slug = "tok";
  m.name = "Tok";
  m.scopes = {"read:tokens"};
  m.created_at = absl::FromUnixSeconds(1767323045);
  m.created_by = "alice";
  nlohmann::ordered_json j = TokenMetadataJson(m);
  EXPECT_EQ(j.dump(),
            R"({"name":"Tok","slug":"tok","scopes":["read:tokens"],)"
            R"("expiresAt":null,"createdAt":"2026-01-02T03:04:05Z",)"
            R"("createdBy":"alice","revokedAt":null,"revokedBy":null,)"
            R"("lastUsedAt":null,"rotatedTo":null,"rotatedFrom":null,)"
            R"("graceEndsAt":null})");
  m.revoked_at = m.created_at;
  m.revoked_by = "bob";
  m.expires_at = m.created_at;
  j = TokenMetadataJson(m);
  EXPECT_EQ(j["revokedBy"], "bob");
  EXPECT_EQ(j["revokedAt"], "2026-01-02T03:04:05Z");
  EXPECT_EQ(j["expiresAt"], "2026-01-02T03:04:05Z");
  m.last_used_at = absl::FromUnixSeconds(1767323046);
  j = TokenMetadataJson(m);
  EXPECT_EQ(j["lastUsedAt"], "2026-01-02T03:04:06Z");
  m.rotated_to = "tok-2";
  m.grace_ends_at = absl::FromUnixSeconds(1767326645);
  j = TokenMetadataJson(m);
  EXPECT_EQ(j["rotatedTo"], "tok-2");
  EXPECT_EQ(j["graceEndsAt"], "2026-01-02T04:04:05Z");
  EXPECT_TRUE(j["rotatedFrom"].is_null());

  CreatedToken created{m, SecretString("kg_abcDEF123-_")};
  std::string body = CreatedTokenBody(created);
  json parsed = json::parse(body);
  EXPECT_EQ(parsed["token"], "kg_abcDEF123-_");
  EXPECT_EQ(parsed.size(), 13u);  // the 12 metadata members + token

  // A value that would need escaping is refused rather than mis-encoded.
  CreatedToken odd{m, SecretString("kg_\"}")};
  EXPECT_THAT(CreatedTokenBody(odd), IsEmpty());
}

TEST(EncodeTest, PageHasNullCursorOnLastPage) {
  Page<ServiceAccount> page;
  EXPECT_EQ(PageJson(page, ServiceAccountJson).dump(),
            R"({"items":[],"nextCursor":null})");
  page.items.push_back(ServiceAccount{});
  page.next_cursor = "c";
  nlohmann::ordered_json j = PageJson(page, ServiceAccountJson);
  EXPECT_EQ(j["nextCursor"], "c");
  ASSERT_EQ(j["items"].size(), 1u);
  EXPECT_EQ(j["items"][0].size(), 7u);
}

}  // namespace
}  // namespace keygate::http
