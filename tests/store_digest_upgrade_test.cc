// tests/store_digest_upgrade_test.cc: a store and pepper file written before
// pepper lines named their digest algorithm (keyed BLAKE2b, by the keygate of
// commit 5f6dd7c) open and verify after the change, and `pepper rotate`
// moves new tokens to SHA-256 while the old ones keep verifying.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "keygate/keyring.h"
#include "keygate/store.h"
#include "tests/store_test_util.h"

namespace keygate {
namespace {

namespace fs = std::filesystem;
using ::keygate::test::ScopedTempDir;

constexpr char kFixture[] = KEYGATE_TESTDATA_DIR "/blake2b_store";

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// Fixture is the frozen old store copied into a temp dir (the store writes
// to its directory; the pepper file must be 0600, which git does not keep).
class StoreDigestUpgradeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::is_directory(std::string(kFixture) + "/data"))
        << "missing fixture " << kFixture;
    fs::copy(std::string(kFixture) + "/data", dir_.Sub("data"),
             fs::copy_options::recursive);
    fs::copy_file(std::string(kFixture) + "/data.pepper", pepper_file());
    ASSERT_EQ(chmod(pepper_file().c_str(), 0600), 0);
    std::istringstream tokens(ReadText(std::string(kFixture) + "/tokens.txt"));
    std::string line;
    while (std::getline(tokens, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      std::string state, value;
      fields >> state >> value;
      if (state == "active") active_ = value;
      if (state == "revoked") revoked_ = value;
    }
    ASSERT_FALSE(active_.empty());
    ASSERT_FALSE(revoked_.empty());
  }

  std::string pepper_file() const { return dir_.Sub("data.pepper"); }

  absl::StatusOr<std::unique_ptr<Store>> OpenStore() {
    absl::StatusOr<std::shared_ptr<const Keyring>> keyring =
        Keyring::Load(pepper_file());
    if (!keyring.ok()) return keyring.status();
    Options options;
    options.path = dir_.Sub("data");
    options.keyring = *keyring;
    options.create_if_missing = false;
    return Store::Open(std::move(options));
  }

  ScopedTempDir dir_;
  std::string active_;
  std::string revoked_;
};

TEST_F(StoreDigestUpgradeTest, OldPepperFileIsKeyedBlake2b) {
  // The old format: no algorithm field on the line.
  const std::string text = ReadText(pepper_file());
  EXPECT_EQ(text.find("sha256"), std::string::npos);
  EXPECT_EQ(text.find("blake2b"), std::string::npos);
  KG_ASSERT_OK_AND_ASSIGN(std::shared_ptr<const Keyring> keyring,
                          Keyring::Load(pepper_file()));
  EXPECT_EQ(keyring->algorithm(1), DigestAlgorithm::kBlake2bKeyed);
}

TEST_F(StoreDigestUpgradeTest, OldStoreOpensAndVerifies) {
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, OpenStore());
  absl::StatusOr<Principal> principal = store->Verify(active_);
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->organization(), "acme");
  EXPECT_EQ(principal->service_account(), "billing-bot");
  EXPECT_EQ(principal->token_slug(), "ci");
  EXPECT_TRUE(principal->HasScope("read:tokens"));
  EXPECT_EQ(store->Verify(revoked_).status().code(),
            absl::StatusCode::kUnauthenticated);
  KG_EXPECT_OK(store->Close());
}

TEST_F(StoreDigestUpgradeTest, RotateMovesNewTokensToSha256) {
  KG_ASSERT_OK_AND_ASSIGN(int new_id, Keyring::RotateFile(pepper_file()));
  EXPECT_EQ(new_id, 2);
  KG_ASSERT_OK_AND_ASSIGN(std::shared_ptr<const Keyring> keyring,
                          Keyring::Load(pepper_file()));
  EXPECT_EQ(keyring->algorithm(1), DigestAlgorithm::kBlake2bKeyed);
  EXPECT_EQ(keyring->algorithm(2), DigestAlgorithm::kSha256KeyBlock);

  std::string fresh;
  {
    KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, OpenStore());
    TokenSpec spec;
    spec.name = "after rotation";
    spec.scopes = {"read:tokens"};
    KG_ASSERT_OK_AND_ASSIGN(CreatedToken created,
                            store->CreateToken("acme", "billing-bot", spec,
                                               "tester"));
    EXPECT_EQ(created.metadata.pepper_id, 2);
    fresh = std::string(created.value.view());
    KG_EXPECT_OK(store->Verify(fresh).status());
    KG_EXPECT_OK(store->Verify(active_).status());
    KG_EXPECT_OK(store->Close());
  }
  // Both algorithms side by side after a reopen; the revoked one stays so.
  KG_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, OpenStore());
  KG_EXPECT_OK(store->Verify(fresh).status());
  KG_EXPECT_OK(store->Verify(active_).status());
  EXPECT_FALSE(store->Verify(revoked_).ok());
  KG_EXPECT_OK(store->Close());
}

TEST_F(StoreDigestUpgradeTest, RelabelingAnOldPepperIsRefused) {
  // The same key bytes declared "sha256" would digest differently: Open must
  // refuse (the fingerprint differs) instead of failing every verify.
  std::string text = ReadText(pepper_file());
  std::string relabeled;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line[0] == '1') line += " sha256";
    relabeled += line + "\n";
  }
  {
    std::ofstream out(pepper_file(), std::ios::trunc);
    out << relabeled;
  }
  ASSERT_EQ(chmod(pepper_file().c_str(), 0600), 0);
  absl::StatusOr<std::unique_ptr<Store>> store = OpenStore();
  EXPECT_FALSE(store.ok());
}

}  // namespace
}  // namespace keygate
