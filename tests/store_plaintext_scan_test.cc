// Scans every byte the store wrote to disk for token plaintext: a token's
// value (or its secret part) must never be stored, only its keyed digest.
// Failures name tokens by index, never by value.
#include <sodium.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "keygate/keygate.h"
#include "tests/store_test_util.h"

namespace keygate {
namespace {

struct StoreFile {
  std::string path;
  std::string bytes;
};

// ReadTree reads every regular file under `root`, recursively, as bytes.
std::vector<StoreFile> ReadTree(const std::string& root) {
  std::vector<StoreFile> files;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    StoreFile f;
    f.path = entry.path().string();
    f.bytes.assign(std::istreambuf_iterator<char>(in),
                   std::istreambuf_iterator<char>());
    files.push_back(std::move(f));
  }
  return files;
}

// Needles for one token: the full value, everything after the prefix, and
// the 43-char secret alone (without pepper id and checksum).
std::vector<std::string> NeedlesOf(std::string_view value, size_t prefix_size) {
  std::vector<std::string> needles;
  needles.emplace_back(value);
  needles.emplace_back(value.substr(prefix_size));
  if (value.size() >= prefix_size + 1 + 43) {
    needles.emplace_back(value.substr(prefix_size + 1, 43));
  }
  return needles;
}

class PlaintextScanTest : public test::StoreTest,
                          public ::testing::WithParamInterface<bool> {
 protected:
  bool SyncWrites() const override { return GetParam(); }
};

TEST_P(PlaintextScanTest, NoTokenValueAppearsInAnyStoreFile) {
  SKIP_IF_POSTGRES("scans the RocksDB files (PostgreSQL holds the same digests and records)");
  constexpr int kAccounts = 4;
  constexpr int kTokens = 200;
  // With the event outbox on: its records (token metadata of every write)
  // must hold no value either.
  Options options = DefaultOptions();
  options.record_events = true;
  KG_ASSERT_OK(Reopen(options));
  for (int a = 0; a < kAccounts; ++a) {
    KG_ASSERT_OK(CreateAccount("acct-" + std::to_string(a)));
  }
  std::vector<std::string> values;
  std::vector<std::string> slugs;
  for (int i = 0; i < kTokens; ++i) {
    const std::string account = "acct-" + std::to_string(i % kAccounts);
    auto t = CreateToken(account, "token " + std::to_string(i),
                         {"read:tokens", "write:service_accounts"});
    ASSERT_TRUE(t.ok()) << "token #" << i << ": " << t.status();
    values.emplace_back(t->value.view());
    slugs.push_back(t->metadata.slug);
    clock_.Advance(absl::Milliseconds(10));
  }
  // Exercise every write path that touches token records: revoke some,
  // disable and delete an account, purge.
  for (int i = 0; i < kTokens; i += 5) {
    KG_ASSERT_OK(store_->RevokeToken(
        kOrg, "acct-" + std::to_string(i % kAccounts), slugs[i], kActor));
  }
  KG_ASSERT_OK(store_->SetServiceAccountDisabled(kOrg, "acct-1", true, kActor));
  KG_ASSERT_OK(store_->DeleteServiceAccount(kOrg, "acct-3", kActor));
  KG_ASSERT_OK(store_->PurgeRetired());
  // Every token of the remaining accounts still verifies or fails as it
  // should, so the values we scan for are the real ones.
  for (int i = 0; i < kTokens; ++i) {
    auto v = store_->Verify(values[i]);
    const bool should_pass =
        (i % 5 != 0) && (i % kAccounts == 0 || i % kAccounts == 2);
    EXPECT_EQ(v.ok(), should_pass) << "token #" << i << ": " << v.status();
  }
  KG_ASSERT_OK(store_->Close());
  store_.reset();

  std::vector<StoreFile> files = ReadTree(StorePath());
  ASSERT_FALSE(files.empty());
  size_t total_bytes = 0;
  for (const StoreFile& f : files) total_bytes += f.bytes.size();
  ASSERT_GT(total_bytes, 0u);
  // The slugs (not secret) are stored: a sanity check that the scan reads
  // the files where the records live.
  bool found_slug = false;
  for (const StoreFile& f : files) {
    if (f.bytes.find(slugs[1]) != std::string::npos) found_slug = true;
  }
  EXPECT_TRUE(found_slug) << "scan found no token record at all";

  for (size_t i = 0; i < values.size(); ++i) {
    for (const std::string& needle : NeedlesOf(values[i], 3)) {
      for (const StoreFile& f : files) {
        EXPECT_EQ(f.bytes.find(needle), std::string::npos)
            << "plaintext of token #" << i << " (needle of " << needle.size()
            << " bytes) found in " << f.path;
      }
    }
  }

  // The pepper is not stored either (raw bytes or hex).
  std::string raw_pepper(32, '\0');
  size_t bin_len = 0;
  ASSERT_EQ(
      sodium_hex2bin(reinterpret_cast<unsigned char*>(raw_pepper.data()),
                     raw_pepper.size(), test::kPepperHex1.data(),
                     test::kPepperHex1.size(), nullptr, &bin_len, nullptr),
      0);
  ASSERT_EQ(bin_len, 32u);
  for (const StoreFile& f : files) {
    EXPECT_EQ(f.bytes.find(raw_pepper), std::string::npos)
        << "raw pepper found in " << f.path;
    EXPECT_EQ(f.bytes.find(std::string(test::kPepperHex1)), std::string::npos)
        << "hex pepper found in " << f.path;
  }

  for (std::string& v : values) sodium_memzero(v.data(), v.size());
  sodium_memzero(raw_pepper.data(), raw_pepper.size());
}

INSTANTIATE_TEST_SUITE_P(SyncAndNoSync, PlaintextScanTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Synced" : "Unsynced";
                         });

}  // namespace
}  // namespace keygate
