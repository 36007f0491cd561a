// tests/storage_keys_test.cc: the key layout keeps organizations, accounts
// and slugs apart, orders token times newest first, and decodes only what
// it encoded.
#include "lib/storage/keys.h"

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace keygate::storage {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

TEST(StorageKeysTest, AccountKeysDoNotCollideAcrossComponentSplits) {
  EXPECT_NE(AccountKey("a", "bc"), AccountKey("ab", "c"));
  EXPECT_NE(AccountKey("", "abc"), AccountKey("a", "bc"));
  EXPECT_NE(TokenKey("a", "bc", "d"), TokenKey("ab", "c", "d"));
  EXPECT_NE(TokenKey("a", "b", "cd"), TokenKey("a", "bc", "d"));
  EXPECT_NE(TokenKey("ab", "", "cd"), TokenKey("a", "b", "cd"));
  const absl::Time t = absl::FromUnixSeconds(1700000000);
  EXPECT_NE(TokenTimeKey("a", "bc", t, "xy"), TokenTimeKey("ab", "c", t, "xy"));
}

TEST(StorageKeysTest, AllSplitsOfAStringGiveDistinctKeys) {
  const std::string s = "org1acct22tok";
  std::set<std::string> account_keys, token_keys;
  for (size_t i = 0; i <= s.size(); ++i) {
    EXPECT_TRUE(account_keys.insert(AccountKey(s.substr(0, i), s.substr(i)))
                    .second);
    for (size_t j = i; j <= s.size(); ++j) {
      EXPECT_TRUE(token_keys
                      .insert(TokenKey(s.substr(0, i), s.substr(i, j - i),
                                       s.substr(j)))
                      .second)
          << i << "," << j;
    }
  }
}

TEST(StorageKeysTest, OrganizationPrefixNeverCoversAnotherOrganization) {
  // Organizations that are prefixes of one another, differ in length across
  // the one/two-byte varint boundary, or embed NUL bytes.
  const std::vector<std::string> orgs = {
      "a",  "ab", "abc", std::string("a\0", 2), std::string(127, 'o'),
      std::string(128, 'o'), std::string(129, 'o'), std::string(256, 'o'),
      "\x01", "\x80", "\xff"};
  for (const std::string& org : orgs) {
    for (const std::string& other : orgs) {
      if (org == other) continue;
      const std::string prefix = OrganizationPrefix(org);
      EXPECT_FALSE(StartsWith(AccountKey(other, "sa"), prefix))
          << org.size() << " vs " << other.size();
      EXPECT_FALSE(StartsWith(TokenKey(other, "sa", "tok"), prefix));
      EXPECT_FALSE(StartsWith(
          TokenTimeKey(other, "sa", absl::UnixEpoch(), "tok"), prefix));
      EXPECT_FALSE(StartsWith(TokenKey(other, "sa", "tok"),
                              TokenPrefix(org, "sa")));
    }
    EXPECT_TRUE(StartsWith(AccountKey(org, "sa"), OrganizationPrefix(org)));
    EXPECT_TRUE(StartsWith(TokenKey(org, "sa", "t1"), OrganizationPrefix(org)));
    EXPECT_EQ(OrganizationPrefix(org), AccountPrefix(org));
  }
}

TEST(StorageKeysTest, TokenPrefixNeverCoversAnotherAccount) {
  for (const std::string account : {"sa", "sa-1", "s", "sa1"}) {
    for (const std::string other : {"sa", "sa-1", "s", "sa1"}) {
      if (account == other) continue;
      EXPECT_FALSE(StartsWith(TokenKey("org", other, "tok"),
                              TokenPrefix("org", account)));
      EXPECT_FALSE(StartsWith(
          TokenTimeKey("org", other, absl::UnixEpoch(), "tok"),
          TokenPrefix("org", account)));
    }
  }
}

TEST(StorageKeysTest, TokenTimeKeysSortNewestFirstThenBySlug) {
  const absl::Time base = absl::FromUnixSeconds(1700000000);
  struct Entry {
    absl::Time created;
    std::string slug;
  };
  // Expected order: newest first, ties by slug ascending.
  const std::vector<Entry> want = {
      {absl::InfiniteFuture(), "zz"},
      {base + absl::Hours(24 * 365 * 50), "aa"},
      {base + absl::Microseconds(1), "zz"},
      {base, "aa"},
      {base, "ab"},
      {base, "b0"},
      {base - absl::Microseconds(1), "aa"},
      {absl::UnixEpoch(), "aa"},
      {absl::UnixEpoch() - absl::Microseconds(1), "aa"},
      {absl::FromUnixSeconds(-1000000000), "aa"},
  };
  std::vector<std::string> keys;
  for (const Entry& e : want) {
    keys.push_back(TokenTimeKey("org", "sa", e.created, e.slug));
  }
  std::vector<std::string> sorted = keys;
  std::mt19937 rng(7);
  std::shuffle(sorted.begin(), sorted.end(), rng);
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, keys);
}

TEST(StorageKeysTest, TokenTimeKeyIsTokenPrefixPlusSuffix) {
  const absl::Time t = absl::FromUnixMicros(1700000000123456);
  EXPECT_EQ(TokenTimeKey("org", "sa", t, "tok"),
            TokenPrefix("org", "sa") + TokenTimeSuffix(t, "tok"));
  EXPECT_EQ(TokenTimeSuffix(t, "tok").size(), 8u + 3u);
}

TEST(StorageKeysTest, EncodeTimeOrdersAndRoundTripsMicroseconds) {
  const std::vector<absl::Time> times = {
      absl::FromUnixMicros(-1000000000000), absl::FromUnixMicros(-1),
      absl::UnixEpoch(), absl::FromUnixMicros(1),
      absl::FromUnixMicros(1700000000123456)};
  for (size_t i = 0; i < times.size(); ++i) {
    EXPECT_EQ(DecodeTime(EncodeTime(times[i])), times[i]);
    if (i + 1 < times.size()) {
      EXPECT_LT(EncodeTime(times[i]), EncodeTime(times[i + 1]));
    }
  }
  // Sub-microsecond precision is dropped (toward the past).
  const absl::Time t = absl::FromUnixNanos(1700000000123456789);
  EXPECT_EQ(DecodeTime(EncodeTime(t)), absl::FromUnixMicros(1700000000123456));
}

TEST(StorageKeysTest, DecodeAccountKeyRoundTrips) {
  for (const std::string org :
       {std::string("acme"), std::string(200, 'x'), std::string("a\0b", 3)}) {
    const std::string key = AccountKey(org, "my-account");
    std::string_view got_org, got_slug;
    ASSERT_TRUE(DecodeAccountKey(key, &got_org, &got_slug));
    EXPECT_EQ(got_org, org);
    EXPECT_EQ(got_slug, "my-account");
  }
}

TEST(StorageKeysTest, DecodeTokenKeyRoundTrips) {
  const std::string key = TokenKey("acme", "sa-1", "tok-1");
  std::string_view org, account, slug;
  ASSERT_TRUE(DecodeTokenKey(key, &org, &account, &slug));
  EXPECT_EQ(org, "acme");
  EXPECT_EQ(account, "sa-1");
  EXPECT_EQ(slug, "tok-1");
}

TEST(StorageKeysTest, DecodeRejectsGarbage) {
  std::string_view a, b, c;
  EXPECT_FALSE(DecodeAccountKey("", &a, &b));
  EXPECT_FALSE(DecodeAccountKey("\x05" "ab", &a, &b));        // length past end
  EXPECT_FALSE(DecodeAccountKey(AccountPrefix("acme"), &a, &b));  // no slug
  EXPECT_FALSE(DecodeAccountKey("\xff\xff\xff\xff\xff", &a, &b));
  EXPECT_FALSE(DecodeTokenKey("", &a, &b, &c));
  EXPECT_FALSE(DecodeTokenKey(AccountKey("acme", "sa"), &a, &b, &c));
  EXPECT_FALSE(DecodeTokenKey(TokenPrefix("acme", "sa"), &a, &b, &c));
  EXPECT_FALSE(DecodeTokenKey("\x80", &a, &b, &c));
}

TEST(StorageKeysTest, DecodeNeverCrashesOnRandomBytes) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 40);
  for (int i = 0; i < 20000; ++i) {
    std::string key(length(rng), '\0');
    for (char& ch : key) ch = static_cast<char>(byte(rng));
    std::string_view a, b, c;
    if (DecodeTokenKey(key, &a, &b, &c)) {
      // Whatever decodes re-encodes to the same bytes... unless the varints
      // were overlong, which TokenKey never writes.
      const std::string again = TokenKey(a, b, c);
      if (again != key) {
        EXPECT_EQ(again.size() < key.size(), true);
      }
      // The views point into the key.
      EXPECT_GE(a.data(), key.data());
      EXPECT_LE(c.data() + c.size(), key.data() + key.size());
    }
    (void)DecodeAccountKey(key, &a, &b);
  }
}

}  // namespace
}  // namespace keygate::storage
