// tests/token_digester_test.cc: the keyed token digest.
#include "lib/crypto/token_digester.h"

#include <sodium.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
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

// HexToBytes decodes lowercase hex ("-" is the empty string).
std::string HexToBytes(const std::string& hex) {
  if (hex == "-") return "";
  std::string out(hex.size() / 2, '\0');
  size_t len = 0;
  EXPECT_EQ(sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()),
                           out.size(), hex.data(), hex.size(), nullptr, &len,
                           nullptr),
            0);
  EXPECT_EQ(len, out.size());
  return out;
}

std::string DigestHex(const Digest& digest) {
  char hex[2 * kDigestSize + 1];
  sodium_bin2hex(hex, sizeof hex, digest.data(), digest.size());
  return hex;
}

// Every line of tests/testdata/token_digest_vectors.txt (hashlib's answers)
// matches the digester, for every algorithm, across the one-compression and
// the update/final SHA-256 paths (55/56/64/67/300-byte messages).
TEST(TokenDigesterKnownAnswerTest, MatchesTheVectorsFile) {
  ASSERT_TRUE(InitSodium().ok());
  std::ifstream in(KEYGATE_TESTDATA_DIR "/token_digest_vectors.txt");
  ASSERT_TRUE(in.good()) << "missing token_digest_vectors.txt";
  std::string line;
  int checked[3] = {0, 0, 0};  // blake2b, sha256, fingerprints
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string kind;
    fields >> kind;
    const bool fingerprint = kind == "fingerprint";
    std::string algorithm = kind;
    if (fingerprint) fields >> algorithm;
    std::string pepper_hex, message_hex, expected;
    fields >> pepper_hex;
    if (!fingerprint) fields >> message_hex;
    fields >> expected;
    ASSERT_EQ(expected.size(), 2 * kDigestSize) << line;
    auto digester =
        MakeDigester("7 " + pepper_hex + " " + algorithm + "\n");
    ASSERT_NE(digester, nullptr) << line;
    ASSERT_EQ(DigestAlgorithmName(digester->algorithm(7)), algorithm);
    if (fingerprint) {
      EXPECT_EQ(DigestHex(digester->Fingerprint(7)), expected) << line;
      ++checked[2];
      continue;
    }
    Digest out{};
    ASSERT_TRUE(digester->Compute(7, HexToBytes(message_hex), &out));
    EXPECT_EQ(DigestHex(out), expected) << line;
    ++checked[algorithm == "sha256" ? 1 : 0];
  }
  EXPECT_GE(checked[0], 20);
  EXPECT_GE(checked[1], 20);
  EXPECT_GE(checked[2], 6);
}

TEST(TokenDigesterSha256Test, DiffersFromBlake2bUnderTheSameKey) {
  ASSERT_TRUE(InitSodium().ok());
  auto digester = MakeDigester(std::string("1 ") + kHex1 + "\n2 " + kHex1 +
                               " sha256\n");
  ASSERT_NE(digester, nullptr);
  EXPECT_EQ(digester->algorithm(1), DigestAlgorithm::kBlake2bKeyed);
  EXPECT_EQ(digester->algorithm(2), DigestAlgorithm::kSha256KeyBlock);
  Digest a{}, b{};
  ASSERT_TRUE(digester->Compute(1, kToken, &a));
  ASSERT_TRUE(digester->Compute(2, kToken, &b));
  EXPECT_NE(a, b);
  // The fingerprint is not the digest of its label (its own key block).
  Digest label{};
  ASSERT_TRUE(digester->Compute(2, "keygate pepper fingerprint v1", &label));
  EXPECT_NE(digester->Fingerprint(2), label);
  EXPECT_NE(digester->Fingerprint(2), digester->Fingerprint(1));
}

TEST(TokenDigesterSha256Test, EveryLengthAgreesWithTheStreamingPath) {
  // Lengths 0..200 around the one-block boundary (55) all give what a plain
  // streaming SHA-256 over key block || message gives (libsodium's SHA-256,
  // an independent implementation).
  ASSERT_TRUE(InitSodium().ok());
  auto digester = MakeDigester(std::string("3 ") + kHex2 + " sha256\n");
  ASSERT_NE(digester, nullptr);
  unsigned char block[64] = {};
  ASSERT_EQ(sodium_hex2bin(block, 32, kHex2, 64, nullptr, nullptr, nullptr), 0);
  std::memcpy(block + 32, kSha256TokenDomain.data(), kSha256TokenDomain.size());
  for (size_t n = 0; n <= 200; ++n) {
    std::string message(n, '\0');
    for (size_t i = 0; i < n; ++i) message[i] = static_cast<char>(i * 31 + n);
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, block, sizeof block);
    crypto_hash_sha256_update(
        &st, reinterpret_cast<const unsigned char*>(message.data()), n);
    Digest expected{};
    crypto_hash_sha256_final(&st, expected.data());
    Digest out{};
    ASSERT_TRUE(digester->Compute(3, message, &out));
    EXPECT_EQ(out, expected) << "length " << n;
  }
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
