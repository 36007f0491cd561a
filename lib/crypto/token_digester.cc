// lib/crypto/token_digester.cc: the keyed token digest of every algorithm.
#include "lib/crypto/token_digester.h"

// SHA256_Transform and SHA256_CTX are deprecated in OpenSSL 3 in favour of
// EVP, but they are the only way to run one compression from a precomputed
// state without EVP's per-call dispatch (bench/token_digester_benchmark.cc
// measures both).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <sodium.h>

#include <cstring>
#include <new>

#include "lib/crypto/keyring_keys.h"
#include "lib/crypto/sodium.h"

namespace keygate::crypto {

static_assert(kDigestSize == crypto_generichash_BYTES);
static_assert(kDigestSize == SHA256_DIGEST_LENGTH);
static_assert(Keyring::kKeySize == crypto_generichash_KEYBYTES);

namespace {

constexpr std::string_view kFingerprintLabel = "keygate pepper fingerprint v1";

// The SHA-256 key block: the pepper, then a domain label zero-padded to 32
// bytes. One full block, so the secret state after it can be precomputed.
constexpr size_t kShaBlockSize = SHA256_CBLOCK;
static_assert(kShaBlockSize == 64);
static_assert(Keyring::kKeySize + kSha256TokenDomain.size() <= kShaBlockSize);
static_assert(Keyring::kKeySize + kSha256FingerprintDomain.size() <=
              kShaBlockSize);

// The longest token that fits the final block with SHA-256's padding (0x80
// and a 64-bit length): 64 - 1 - 8.
constexpr size_t kMaxOneBlockToken = kShaBlockSize - 9;

void MakeKeyBlock(const uint8_t* key, std::string_view domain,
                  unsigned char block[kShaBlockSize]) {
  std::memset(block, 0, kShaBlockSize);
  std::memcpy(block, key, Keyring::kKeySize);
  std::memcpy(block + Keyring::kKeySize, domain.data(), domain.size());
}

void StoreBigEndian32(uint32_t v, uint8_t* p) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

}  // namespace

// States is one sodium_malloc'd block holding, per pepper id (slot 0
// unused), the precomputed state of its algorithm. The states are
// secret-equivalent (they compute digests), hence the guarded, locked,
// read-only memory.
struct TokenDigester::States {
  crypto_generichash_state blake2b[Keyring::kMaxPepperId + 1];
  SHA256_CTX sha256[Keyring::kMaxPepperId + 1];  // after the key block
  // 0 = absent, else the DigestAlgorithm value.
  uint8_t algorithm[Keyring::kMaxPepperId + 1];
};

bool DigestEqual(const Digest& a, const Digest& b) noexcept {
  return crypto_verify_32(a.data(), b.data()) == 0;
}

absl::StatusOr<std::unique_ptr<TokenDigester>> TokenDigester::Create(
    std::shared_ptr<const Keyring> keyring) {
  if (keyring == nullptr) {
    return absl::InvalidArgumentError("TokenDigester needs a keyring");
  }
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  void* memory = sodium_malloc(sizeof(States));
  if (memory == nullptr) {
    return absl::ResourceExhaustedError(
        "cannot allocate secure memory for the token digester");
  }
  // sodium_malloc places the block at the end of a page; States' size is a
  // multiple of its 64-byte alignment, so the block is aligned.
  if (reinterpret_cast<uintptr_t>(memory) % alignof(States) != 0) {
    sodium_free(memory);
    return absl::InternalError("sodium_malloc returned a misaligned block");
  }
  auto* states = new (memory) States;
  sodium_memzero(states, sizeof(States));
  for (int id : keyring->ids()) {
    const uint8_t* key = KeyringKeys::Key(*keyring, id);
    if (id < 1 || id > Keyring::kMaxPepperId || key == nullptr) {
      sodium_free(memory);
      return absl::InternalError("cannot initialize the keyed digest");
    }
    const DigestAlgorithm algorithm = keyring->algorithm(id);
    bool ok = false;
    switch (algorithm) {
      case DigestAlgorithm::kBlake2bKeyed:
        ok = crypto_generichash_init(&states->blake2b[id], key,
                                     Keyring::kKeySize, kDigestSize) == 0;
        break;
      case DigestAlgorithm::kSha256KeyBlock: {
        unsigned char block[kShaBlockSize];
        MakeKeyBlock(key, kSha256TokenDomain, block);
        ok = SHA256_Init(&states->sha256[id]) == 1 &&
             SHA256_Update(&states->sha256[id], block, sizeof block) == 1;
        sodium_memzero(block, sizeof block);
        break;
      }
    }
    if (!ok) {
      sodium_free(memory);
      return absl::InternalError("cannot initialize the keyed digest");
    }
    states->algorithm[id] = static_cast<uint8_t>(algorithm);
  }
  sodium_mprotect_readonly(memory);
  return std::unique_ptr<TokenDigester>(
      new TokenDigester(std::move(keyring), states));
}

TokenDigester::TokenDigester(std::shared_ptr<const Keyring> keyring,
                             States* states)
    : keyring_(std::move(keyring)), states_(states) {}

TokenDigester::~TokenDigester() {
  // States is trivially destructible; sodium_free wipes it.
  sodium_free(states_);
}

bool TokenDigester::Compute(int pepper_id, std::string_view token,
                            Digest* out) const noexcept {
  if (out == nullptr || pepper_id < 1 || pepper_id > Keyring::kMaxPepperId) {
    return false;
  }
  const auto* data = reinterpret_cast<const unsigned char*>(token.data());
  switch (static_cast<DigestAlgorithm>(states_->algorithm[pepper_id])) {
    case DigestAlgorithm::kSha256KeyBlock: {
      const SHA256_CTX& keyed = states_->sha256[pepper_id];
      if (token.size() <= kMaxOneBlockToken) {
        // The final block by hand (token, 0x80, zeros, bit length of key
        // block + token), one compression from the keyed chaining value:
        // the same result as SHA256_Update + SHA256_Final, without their
        // bookkeeping.
        unsigned char block[kShaBlockSize];
        std::memcpy(block, data, token.size());
        block[token.size()] = 0x80;
        std::memset(block + token.size() + 1, 0,
                    kShaBlockSize - 8 - token.size() - 1);
        const uint64_t bits =
            static_cast<uint64_t>(kShaBlockSize + token.size()) * 8;
        for (int i = 0; i < 8; ++i) {
          block[kShaBlockSize - 1 - i] = static_cast<unsigned char>(bits >> (8 * i));
        }
        SHA256_CTX scratch;  // SHA256_Transform reads and writes only h
        std::memcpy(scratch.h, keyed.h, sizeof scratch.h);
        SHA256_Transform(&scratch, block);
        for (int i = 0; i < 8; ++i) {
          StoreBigEndian32(scratch.h[i], out->data() + 4 * i);
        }
        // The block holds the token; the chaining words are the digest the
        // caller now holds anyway.
        sodium_memzero(block, sizeof block);
        return true;
      }
      SHA256_CTX scratch;
      std::memcpy(&scratch, &keyed, sizeof scratch);
      SHA256_Update(&scratch, data, token.size());
      SHA256_Final(out->data(), &scratch);
      sodium_memzero(&scratch, sizeof scratch);
      return true;
    }
    case DigestAlgorithm::kBlake2bKeyed: {
      crypto_generichash_state scratch;
      std::memcpy(&scratch, &states_->blake2b[pepper_id], sizeof scratch);
      crypto_generichash_update(&scratch, data, token.size());
      crypto_generichash_final(&scratch, out->data(), out->size());
      sodium_memzero(&scratch, sizeof scratch);
      return true;
    }
  }
  return false;  // absent id
}

Digest TokenDigester::Fingerprint(int pepper_id) const {
  Digest out{};
  const uint8_t* key = KeyringKeys::Key(*keyring_, pepper_id);
  if (key == nullptr) return out;
  if (keyring_->algorithm(pepper_id) == DigestAlgorithm::kSha256KeyBlock) {
    // Its own key block: a fingerprint never shares the token digest's
    // chaining value, so no token digest follows from it by extension.
    unsigned char block[kShaBlockSize];
    MakeKeyBlock(key, kSha256FingerprintDomain, block);
    SHA256_CTX ctx;
    const bool ok =
        SHA256_Init(&ctx) == 1 && SHA256_Update(&ctx, block, sizeof block) == 1 &&
        SHA256_Update(&ctx, kFingerprintLabel.data(), kFingerprintLabel.size()) ==
            1 &&
        SHA256_Final(out.data(), &ctx) == 1;
    sodium_memzero(block, sizeof block);
    sodium_memzero(&ctx, sizeof ctx);
    if (!ok) out.fill(0);
    return out;
  }
  if (!Compute(pepper_id, kFingerprintLabel, &out)) out.fill(0);
  return out;
}

}  // namespace keygate::crypto
