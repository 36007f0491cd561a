// tests/storage_records_test.cc: record encodings round-trip every field
// combination and refuse anything they did not write, without crashing.
#include "lib/storage/records.h"

#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "lib/storage/keys.h"

namespace keygate::storage {
namespace {

// Times with microsecond precision: the encoding keeps microseconds.
absl::Time Micros(int64_t us) { return absl::FromUnixMicros(us); }

ServiceAccount MakeAccount(bool disabled) {
  ServiceAccount account;
  account.name = "Billing bot \xc3\xa9";
  account.disabled = disabled;
  account.created_at = Micros(1700000000000001);
  account.created_by = "alice@example.com";
  account.updated_at = Micros(1700000500000002);
  account.updated_by = "bob";
  return account;
}

StoredToken MakeToken(bool expiry, bool revoked, size_t scope_count) {
  StoredToken token;
  for (size_t i = 0; i < token.digest.size(); ++i) {
    token.digest[i] = static_cast<uint8_t>(i * 7 + 1);
  }
  TokenMetadata& m = token.metadata;
  m.name = "ci deploy";
  m.pepper_id = 3;
  const std::vector<std::string> all = {"read:*", "write:tokens",
                                        "delete:service_accounts"};
  for (size_t i = 0; i < scope_count; ++i) m.scopes.push_back(all[i % 3]);
  m.created_at = Micros(1700000000000000);
  m.created_by = "carol";
  if (expiry) m.expires_at = Micros(1800000000000000);
  if (revoked) {
    m.revoked_at = Micros(1750000000000000);
    m.revoked_by = "dave";
  }
  return token;
}

void ExpectSameAccount(const ServiceAccount& a, const ServiceAccount& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.disabled, b.disabled);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.created_by, b.created_by);
  EXPECT_EQ(a.updated_at, b.updated_at);
  EXPECT_EQ(a.updated_by, b.updated_by);
}

void ExpectSameToken(const StoredToken& a, const StoredToken& b) {
  EXPECT_EQ(a.digest, b.digest);
  EXPECT_EQ(a.metadata.name, b.metadata.name);
  EXPECT_EQ(a.metadata.pepper_id, b.metadata.pepper_id);
  EXPECT_EQ(a.metadata.scopes, b.metadata.scopes);
  EXPECT_EQ(a.metadata.created_at, b.metadata.created_at);
  EXPECT_EQ(a.metadata.created_by, b.metadata.created_by);
  EXPECT_EQ(a.metadata.expires_at, b.metadata.expires_at);
  EXPECT_EQ(a.metadata.revoked_at, b.metadata.revoked_at);
  EXPECT_EQ(a.metadata.revoked_by, b.metadata.revoked_by);
  EXPECT_EQ(a.metadata.rotated_to, b.metadata.rotated_to);
  EXPECT_EQ(a.metadata.rotated_from, b.metadata.rotated_from);
  EXPECT_EQ(a.metadata.grace_ends_at, b.metadata.grace_ends_at);
}

// Every valid record the tests use, to cut and corrupt.
std::vector<std::string> ValidTokenRecords() {
  std::vector<std::string> out;
  for (bool expiry : {false, true}) {
    for (bool revoked : {false, true}) {
      for (size_t scopes : {0u, 1u, 3u}) {
        out.push_back(EncodeToken(MakeToken(expiry, revoked, scopes)));
      }
    }
  }
  return out;
}

TEST(AccountRecordTest, RoundTrips) {
  for (bool disabled : {false, true}) {
    const ServiceAccount account = MakeAccount(disabled);
    ServiceAccount decoded;
    ASSERT_TRUE(DecodeAccount(EncodeAccount(account), &decoded).ok());
    ExpectSameAccount(decoded, account);
  }
}

TEST(AccountRecordTest, RoundTripsEmptyAndBinaryStrings) {
  ServiceAccount account;
  account.name = std::string("\0\xff", 2);
  account.created_at = absl::UnixEpoch();
  account.updated_at = Micros(-5);
  ServiceAccount decoded;
  decoded.name = "stale";
  ASSERT_TRUE(DecodeAccount(EncodeAccount(account), &decoded).ok());
  ExpectSameAccount(decoded, account);
}

TEST(AccountRecordTest, StartsWithVersionAndOmitsIdentity) {
  ServiceAccount account = MakeAccount(false);
  account.organization = "secret-org-id";
  account.slug = "the-slug";
  const std::string value = EncodeAccount(account);
  ASSERT_FALSE(value.empty());
  EXPECT_EQ(value[0], static_cast<char>(kRecordVersion));
  EXPECT_EQ(value.find("secret-org-id"), std::string::npos);
  EXPECT_EQ(value.find("the-slug"), std::string::npos);
}

TEST(AccountRecordTest, EveryTruncationIsDataLoss) {
  const std::string value = EncodeAccount(MakeAccount(true));
  for (size_t n = 0; n < value.size(); ++n) {
    ServiceAccount decoded;
    const absl::Status s =
        DecodeAccount(std::string_view(value).substr(0, n), &decoded);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << n;
  }
}

TEST(AccountRecordTest, RejectsUnknownVersionTrailingBytesAndBadFlag) {
  std::string value = EncodeAccount(MakeAccount(false));
  ServiceAccount decoded;
  for (char version : {'\0', '\x02', '\xff'}) {
    std::string other = value;
    other[0] = version;
    const absl::Status s = DecodeAccount(other, &decoded);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(s.message().find("version"), std::string_view::npos)
        << s.message();
  }
  EXPECT_EQ(DecodeAccount(value + "x", &decoded).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeAccount(value + std::string(1, '\0'), &decoded).code(),
            absl::StatusCode::kDataLoss);
  // The disabled byte sits right after the length-prefixed name.
  const size_t disabled_at = 1 + 1 + MakeAccount(false).name.size();
  ASSERT_EQ(value[disabled_at], '\0');
  value[disabled_at] = 2;
  EXPECT_EQ(DecodeAccount(value, &decoded).code(), absl::StatusCode::kDataLoss);
}

TEST(TokenRecordTest, RoundTripsEveryOptionalCombination) {
  for (bool expiry : {false, true}) {
    for (bool revoked : {false, true}) {
      for (size_t scopes : {0u, 1u, 3u, 64u}) {
        SCOPED_TRACE(testing::Message() << "expiry=" << expiry
                                        << " revoked=" << revoked
                                        << " scopes=" << scopes);
        const StoredToken token = MakeToken(expiry, revoked, scopes);
        // A reused output object must not keep stale optionals.
        StoredToken decoded = MakeToken(!expiry, !revoked, 2);
        ASSERT_TRUE(DecodeToken(EncodeToken(token), &decoded).ok());
        ExpectSameToken(decoded, token);
      }
    }
  }
}

// The rotation section: appended only to rotated tokens, so every other
// record is the v1 record unchanged (tests/storage_format_v1_test.cc).
TEST(TokenRecordTest, RotationFieldsRoundTripAfterTheV1Fields) {
  for (bool rotated_out : {false, true}) {
    for (bool rotated_from : {false, true}) {
      for (bool revoked : {false, true}) {
        SCOPED_TRACE(testing::Message() << "out=" << rotated_out << " from="
                                        << rotated_from << " revoked="
                                        << revoked);
        StoredToken token = MakeToken(true, revoked, 2);
        const std::string v1 = EncodeToken(token);
        if (rotated_out) {
          token.metadata.rotated_to = "ci-deploy-x7k2";
          token.metadata.grace_ends_at = Micros(1760000000000000);
        }
        if (rotated_from) token.metadata.rotated_from = "ci-deploy";
        const std::string value = EncodeToken(token);
        // The v1 bytes come first, unchanged.
        ASSERT_EQ(value.substr(0, v1.size()), v1);
        EXPECT_EQ(value.size() == v1.size(), !rotated_out && !rotated_from);
        StoredToken decoded = MakeToken(false, !revoked, 1);
        decoded.metadata.rotated_to = "stale";
        decoded.metadata.rotated_from = "stale";
        decoded.metadata.grace_ends_at = Micros(1);
        ASSERT_TRUE(DecodeToken(value, &decoded).ok());
        ExpectSameToken(decoded, token);
        // Cut inside the rotation section: DataLoss. (Cut exactly at its
        // start, it is a v1 record, as the format intends.)
        for (size_t n = v1.size() + 1; n < value.size(); ++n) {
          EXPECT_EQ(DecodeToken(std::string_view(value).substr(0, n), &decoded)
                        .code(),
                    absl::StatusCode::kDataLoss)
              << n << " of " << value.size();
        }
      }
    }
  }
}

TEST(TokenRecordTest, RejectsBadRotationSections) {
  const std::string v1 = EncodeToken(MakeToken(false, false, 1));
  const std::string slug = std::string("\x02") + "ab";
  StoredToken decoded;
  for (const std::string& section : {
           std::string(1, '\0'),            // empty section
           std::string("\x08") + slug,      // unknown flag
           std::string("\x01") + slug,      // rotated_to without grace end
           std::string("\x04") + std::string(8, '\0'),  // grace without to
           std::string("\x02") + std::string(1, '\0'),  // empty rotated_from
       }) {
    EXPECT_EQ(DecodeToken(v1 + section, &decoded).code(),
              absl::StatusCode::kDataLoss);
  }
}

TEST(TokenRecordTest, RoundTripsExtremeTimes) {
  StoredToken token = MakeToken(true, true, 1);
  token.metadata.created_at = Micros(-1);
  token.metadata.expires_at = absl::FromUnixMicros(INT64_MAX);
  token.metadata.revoked_at = absl::UnixEpoch();
  StoredToken decoded;
  ASSERT_TRUE(DecodeToken(EncodeToken(token), &decoded).ok());
  ExpectSameToken(decoded, token);
}

TEST(TokenRecordTest, EveryTruncationIsDataLoss) {
  for (const std::string& value : ValidTokenRecords()) {
    for (size_t n = 0; n < value.size(); ++n) {
      StoredToken decoded;
      const absl::Status s =
          DecodeToken(std::string_view(value).substr(0, n), &decoded);
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss)
          << n << " of " << value.size();
    }
  }
}

TEST(TokenRecordTest, RejectsUnknownVersion) {
  std::string value = EncodeToken(MakeToken(true, false, 1));
  value[0] = 2;
  StoredToken decoded;
  const absl::Status s = DecodeToken(value, &decoded);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("version 2"), std::string_view::npos)
      << s.message();
}

TEST(TokenRecordTest, RejectsTrailingGarbage) {
  for (const std::string& value : ValidTokenRecords()) {
    StoredToken decoded;
    EXPECT_EQ(DecodeToken(value + "\x01", &decoded).code(),
              absl::StatusCode::kDataLoss);
    EXPECT_EQ(DecodeToken(value + std::string(8, '\0'), &decoded).code(),
              absl::StatusCode::kDataLoss);
  }
}

TEST(TokenRecordTest, RejectsUnknownFlagsAndHugeScopeCounts) {
  const StoredToken token = MakeToken(false, false, 0);
  std::string value = EncodeToken(token);
  // With no optionals, the flags byte is the last byte.
  ASSERT_EQ(value.back(), '\0');
  StoredToken decoded;
  for (char flags : {'\x04', '\x80', '\xff'}) {
    value.back() = flags;
    EXPECT_EQ(DecodeToken(value, &decoded).code(), absl::StatusCode::kDataLoss)
        << static_cast<int>(flags);
  }
  // A scope count of 2^32-1 must be refused before anything is allocated.
  std::string huge;
  huge.push_back(static_cast<char>(kRecordVersion));
  huge.append(32, 'd');
  huge.push_back(1);                    // pepper id
  huge.append("\x01n");                 // name "n"
  huge.append("\xff\xff\xff\xff\x0f");  // scope count
  EXPECT_EQ(DecodeToken(huge, &decoded).code(), absl::StatusCode::kDataLoss);
}

TEST(TokenRecordTest, NeverCrashesOnRandomBytesOrMutations) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 200);
  for (int i = 0; i < 20000; ++i) {
    std::string value(length(rng), '\0');
    for (char& c : value) c = static_cast<char>(byte(rng));
    if (!value.empty() && (i & 1)) value[0] = static_cast<char>(kRecordVersion);
    StoredToken token;
    ServiceAccount account;
    std::string_view key;
    (void)DecodeToken(value, &token);
    (void)DecodeAccount(value, &account);
    (void)DecodeDigestRecord(value, &key);
  }
  // Single-byte mutations of valid records: decode or DataLoss, never UB.
  const std::vector<std::string> valid = ValidTokenRecords();
  for (int i = 0; i < 20000; ++i) {
    std::string value = valid[i % valid.size()];
    value[rng() % value.size()] = static_cast<char>(byte(rng));
    StoredToken token;
    const absl::Status s = DecodeToken(value, &token);
    EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kDataLoss) << s;
  }
}

TEST(DigestRecordTest, RoundTripsAndRejects) {
  const std::string token_key = TokenKey("org", "sa", "tok");
  const std::string value = EncodeDigestRecord(token_key);
  std::string_view decoded;
  ASSERT_TRUE(DecodeDigestRecord(value, &decoded).ok());
  EXPECT_EQ(decoded, token_key);
  for (size_t n = 0; n < value.size(); ++n) {
    EXPECT_EQ(
        DecodeDigestRecord(std::string_view(value).substr(0, n), &decoded)
            .code(),
        absl::StatusCode::kDataLoss)
        << n;
  }
  EXPECT_EQ(DecodeDigestRecord(value + "z", &decoded).code(),
            absl::StatusCode::kDataLoss);
  std::string wrong_version = value;
  wrong_version[0] = 9;
  EXPECT_EQ(DecodeDigestRecord(wrong_version, &decoded).code(),
            absl::StatusCode::kDataLoss);
}

WebhookDeliveryState SampleDeliveryState(size_t attempts) {
  WebhookDeliveryState state;
  state.cursor = 0x0102030405060708ull;
  state.failure_streak = 300;
  for (size_t i = 0; i < attempts; ++i) {
    WebhookDeliveryAttempt a;
    a.event_id = "evt_" + std::to_string(i);
    a.event_type = EventType::kTokenRevoked;
    a.event_position = 1000 + i;
    a.attempt = static_cast<uint32_t>(i + 1);
    a.time = absl::FromUnixMicros(1800000000000000 + static_cast<int64_t>(i));
    a.http_status = i % 2 ? 503 : 0;
    a.error = i % 2 ? WebhookDeliveryError::kNone
                    : WebhookDeliveryError::kTimeout;
    a.latency = absl::Microseconds(12345 + static_cast<int64_t>(i));
    state.recent_attempts.push_back(a);
  }
  return state;
}

TEST(WebhookDeliveryRecordTest, RoundTripsAndKeepsAtMostTheRing) {
  for (size_t n : {size_t{0}, size_t{1}, kMaxWebhookDeliveryAttemptsKept}) {
    const WebhookDeliveryState state = SampleDeliveryState(n);
    const std::string value = EncodeWebhookDeliveryState(state);
    EXPECT_EQ(value[0], 1);  // version byte
    WebhookDeliveryState back;
    ASSERT_TRUE(DecodeWebhookDeliveryState(value, &back).ok());
    EXPECT_EQ(back.cursor, state.cursor);
    EXPECT_EQ(back.failure_streak, state.failure_streak);
    ASSERT_EQ(back.recent_attempts.size(), n);
    for (size_t i = 0; i < n; ++i) {
      const WebhookDeliveryAttempt& a = state.recent_attempts[i];
      const WebhookDeliveryAttempt& b = back.recent_attempts[i];
      EXPECT_EQ(b.event_id, a.event_id);
      EXPECT_EQ(b.event_type, a.event_type);
      EXPECT_EQ(b.event_position, a.event_position);
      EXPECT_EQ(b.attempt, a.attempt);
      EXPECT_EQ(b.time, a.time);
      EXPECT_EQ(b.http_status, a.http_status);
      EXPECT_EQ(b.error, a.error);
      EXPECT_EQ(b.latency, a.latency);
    }
  }
  // More than the ring holds: only the newest are written.
  WebhookDeliveryState back;
  ASSERT_TRUE(DecodeWebhookDeliveryState(
                  EncodeWebhookDeliveryState(SampleDeliveryState(
                      kMaxWebhookDeliveryAttemptsKept + 5)),
                  &back)
                  .ok());
  EXPECT_EQ(back.recent_attempts.size(), kMaxWebhookDeliveryAttemptsKept);
  EXPECT_EQ(back.recent_attempts[0].event_id, "evt_0");
}

// The error byte of each WebhookDeliveryError is fixed on disk
// (docs/storage-schema.md), and a byte this reader does not know (written
// by a newer keygate) is read back, named "unknown", not reported corrupt.
TEST(WebhookDeliveryRecordTest, ErrorBytesAreStableAndUnknownOnesAreKept) {
  const std::pair<WebhookDeliveryError, uint8_t> stable[] = {
      {WebhookDeliveryError::kNone, 0},
      {WebhookDeliveryError::kTimeout, 1},
      {WebhookDeliveryError::kConnection, 2},
      {WebhookDeliveryError::kRefusedTarget, 3},
      {WebhookDeliveryError::kProtocol, 4},
      {WebhookDeliveryError::kUnsupported, 5},
      {WebhookDeliveryError::kInternal, 6},
      {WebhookDeliveryError::kTls, 7}};
  for (const auto& [error, byte] : stable) {
    WebhookDeliveryState state = SampleDeliveryState(1);
    state.recent_attempts[0].error = error;
    const std::string value = EncodeWebhookDeliveryState(state);
    // The error byte sits before the 8-byte latency at the end.
    ASSERT_GE(value.size(), 9u);
    EXPECT_EQ(static_cast<uint8_t>(value[value.size() - 9]), byte);
    WebhookDeliveryState back;
    ASSERT_TRUE(DecodeWebhookDeliveryState(value, &back).ok());
    EXPECT_EQ(back.recent_attempts[0].error, error);
  }
  EXPECT_EQ(WebhookDeliveryErrorName(WebhookDeliveryError::kTls), "tls");
  for (int byte : {8, 200, 255}) {
    std::string value = EncodeWebhookDeliveryState(SampleDeliveryState(1));
    value[value.size() - 9] = static_cast<char>(byte);
    WebhookDeliveryState back;
    ASSERT_TRUE(DecodeWebhookDeliveryState(value, &back).ok()) << byte;
    ASSERT_EQ(back.recent_attempts.size(), 1u);
    EXPECT_EQ(static_cast<int>(back.recent_attempts[0].error), byte);
    EXPECT_EQ(WebhookDeliveryErrorName(back.recent_attempts[0].error),
              "unknown");
    // And it is written back as it was read.
    EXPECT_EQ(EncodeWebhookDeliveryState(back), value);
  }
}

TEST(WebhookDeliveryRecordTest, TruncationsTrailingBytesAndBadFieldsAreDataLoss) {
  const std::string value = EncodeWebhookDeliveryState(SampleDeliveryState(3));
  WebhookDeliveryState out;
  for (size_t n = 0; n < value.size(); ++n) {
    EXPECT_TRUE(absl::IsDataLoss(
        DecodeWebhookDeliveryState(value.substr(0, n), &out)))
        << n;
  }
  EXPECT_TRUE(absl::IsDataLoss(DecodeWebhookDeliveryState(value + "x", &out)));
  std::string bad_version = value;
  bad_version[0] = 2;
  EXPECT_FALSE(DecodeWebhookDeliveryState(bad_version, &out).ok());
  // An attempt count beyond the ring.
  WebhookDeliveryState empty;
  std::string big = EncodeWebhookDeliveryState(empty);
  big.back() = static_cast<char>(kMaxWebhookDeliveryAttemptsKept + 1);
  EXPECT_TRUE(absl::IsDataLoss(DecodeWebhookDeliveryState(big, &out)));
  EXPECT_NE(WebhookDeliveryKey("a", "bc"), WebhookDeliveryKey("ab", "c"));
  EXPECT_EQ(WebhookDeliveryKey("o", "wh_x").rfind(kWebhookDeliveryPrefix, 0),
            0u);
}

}  // namespace
}  // namespace keygate::storage
