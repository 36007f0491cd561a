// tests/token_digester_test.cc: the keyed token digest.
#include "lib/crypto/token_digester.h"

#include <sodium.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "lib/crypto/keyring_keys.h"
#include "lib/crypto/sodium.h"

namespace keygate::crypto {
namespace {

constexpr char kHex1[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kHex2[] =
    "aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899";

constexpr std::string_view kToken =
    "kg_1abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ012345";

std::shared_ptr<const Keyring> MakeKeyring(const std::string& text) {
  auto keyring = Keyring::Parse(text);
  EXPECT_TRUE(keyring.ok()) << keyring.status();
  return keyring.ok() ? *keyring : nullptr;
}

std::unique_ptr<TokenDigester> MakeDigester(const std::string& text) {
  auto digester = TokenDigester::Create(MakeKeyring(text));
  EXPECT_TRUE(digester.ok()) << digester.status();
  return digester.ok() ? std::move(*digester) : nullptr;
}

Digest Direct(const uint8_t* key, std::string_view message) {
  Digest out{};
  EXPECT_EQ(crypto_generichash(
                out.data(), out.size(),
                reinterpret_cast<const unsigned char*>(message.data()),
                message.size(), key, Keyring::kKeySize),
            0);
  return out;
}

class TokenDigesterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitSodium().ok());
    digester_ = MakeDigester(std::string("1 ") + kHex1 + "\n2 " + kHex2 + "\n");
    ASSERT_NE(digester_, nullptr);
  }
  Digest Compute(int id, std::string_view token) {
    Digest out{};
    EXPECT_TRUE(digester_->Compute(id, token, &out));
    return out;
  }
  std::unique_ptr<TokenDigester> digester_;
};

TEST_F(TokenDigesterTest, IsDeterministic) {
  EXPECT_EQ(Compute(1, kToken), Compute(1, kToken));
  // Also across digester instances built from the same keyring text.
  auto other = MakeDigester(std::string("1 ") + kHex1 + "\n");
  Digest out{};
  ASSERT_TRUE(other->Compute(1, kToken, &out));
  EXPECT_EQ(out, Compute(1, kToken));
}

TEST_F(TokenDigesterTest, MatchesDirectKeyedBlake2b) {
  const Keyring& keyring = digester_->keyring();
  const std::string long_message(300, 'q');  // spans several BLAKE2b blocks
  for (int id : {1, 2}) {
    for (std::string_view msg :
         {kToken, std::string_view(""), std::string_view("x"),
          std::string_view(long_message)}) {
      EXPECT_EQ(Compute(id, msg), Direct(KeyringKeys::Key(keyring, id), msg))
          << "id " << id << " length " << msg.size();
    }
  }
}

TEST_F(TokenDigesterTest, KnownAnswer) {
  // BLAKE2b-256 keyed with bytes 00..1f (pepper 1) over "abc", from an
  // independent implementation (Python's hashlib.blake2b(b"abc",
  // key=bytes(range(32)), digest_size=32)).
  const Digest digest = Compute(1, "abc");
  char hex[2 * kDigestSize + 1];
  sodium_bin2hex(hex, sizeof hex, digest.data(), digest.size());
  EXPECT_STREQ(
      hex, "d63a32d3e44738d7907f964316c241adaba0abfeabc32349677578a15a203f7f");
}

TEST_F(TokenDigesterTest, DiffersByPepperAndByToken) {
  EXPECT_NE(Compute(1, kToken), Compute(2, kToken));
  std::string other(kToken);
  other.back() = other.back() == 'a' ? 'b' : 'a';
  EXPECT_NE(Compute(1, kToken), Compute(1, other));
  EXPECT_NE(Compute(1, kToken), Compute(1, kToken.substr(1)));
}

TEST_F(TokenDigesterTest, IsNotAnUnkeyedHash) {
  Digest unkeyed{};
  crypto_generichash(unkeyed.data(), unkeyed.size(),
                     reinterpret_cast<const unsigned char*>(kToken.data()),
                     kToken.size(), nullptr, 0);
  EXPECT_NE(Compute(1, kToken), unkeyed);
}

TEST_F(TokenDigesterTest, UnknownPepperIdIsFalse) {
  Digest out{};
  out.fill(0xab);
  for (int id : {0, -1, 3, 61, 62, 1000}) {
    EXPECT_FALSE(digester_->Compute(id, kToken, &out)) << id;
  }
  Digest untouched;
  untouched.fill(0xab);
  EXPECT_EQ(out, untouched);
  EXPECT_FALSE(digester_->Compute(1, kToken, nullptr));
}

TEST_F(TokenDigesterTest, HandlesHugeAndBinaryInput) {
  const std::string big(1 << 20, '\0');
  Digest out{};
  ASSERT_TRUE(digester_->Compute(1, big, &out));
  EXPECT_EQ(out, Direct(KeyringKeys::Key(digester_->keyring(), 1), big));
  ASSERT_TRUE(digester_->Compute(2, "\xff\xfe\x80", &out));
}

TEST_F(TokenDigesterTest, ActiveIdIsTheKeyringsHighest) {
  EXPECT_EQ(digester_->active_id(), 2);
}

TEST_F(TokenDigesterTest, FingerprintDiffersPerPepperAndIsStable) {
  const Digest f1 = digester_->Fingerprint(1);
  const Digest f2 = digester_->Fingerprint(2);
  EXPECT_NE(f1, f2);
  EXPECT_EQ(f1, digester_->Fingerprint(1));
  EXPECT_EQ(f1, Direct(KeyringKeys::Key(digester_->keyring(), 1),
                       "keygate pepper fingerprint v1"));
  // Same id, different pepper: a different fingerprint.
  auto other = MakeDigester(std::string("1 ") + kHex2 + "\n");
  EXPECT_NE(other->Fingerprint(1), f1);
  // An id not in the keyring gives all zeros.
  EXPECT_EQ(digester_->Fingerprint(9), Digest{});
}

TEST_F(TokenDigesterTest, ConcurrentUseAgrees) {
  const Digest expected = Compute(2, kToken);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        Digest out{};
        if (!digester_->Compute(2, kToken, &out) || out != expected) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(TokenDigesterCreateTest, NullKeyringIsInvalid) {
  auto digester = TokenDigester::Create(nullptr);
  ASSERT_FALSE(digester.ok());
  EXPECT_EQ(digester.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DigestEqualTest, ComparesAllBytes) {
  Digest a{};
  Digest b{};
  EXPECT_TRUE(DigestEqual(a, b));
  for (size_t i = 0; i < kDigestSize; ++i) {
    Digest c = a;
    c[i] = 1;
    EXPECT_FALSE(DigestEqual(a, c)) << i;
  }
  a.fill(0x5a);
  b.fill(0x5a);
  EXPECT_TRUE(DigestEqual(a, b));
}

}  // namespace
}  // namespace keygate::crypto
