// lib/crypto/token_digester.cc: keyed BLAKE2b-256 over token strings.
#include "lib/crypto/token_digester.h"

#include <sodium.h>

#include <cstring>
#include <new>

#include "lib/crypto/sodium.h"

namespace keygate::crypto {

static_assert(kDigestSize == crypto_generichash_BYTES);
static_assert(Keyring::kKeySize == crypto_generichash_KEYBYTES);

namespace {

constexpr std::string_view kFingerprintLabel = "keygate pepper fingerprint v1";

}  // namespace

bool DigestEqual(const Digest& a, const Digest& b) noexcept {
  return crypto_verify_32(a.data(), b.data()) == 0;
}

absl::StatusOr<std::unique_ptr<TokenDigester>> TokenDigester::Create(
    std::shared_ptr<const Keyring> keyring) {
  if (keyring == nullptr) {
    return absl::InvalidArgumentError("TokenDigester needs a keyring");
  }
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  return std::unique_ptr<TokenDigester>(new TokenDigester(std::move(keyring)));
}

TokenDigester::TokenDigester(std::shared_ptr<const Keyring> keyring)
    : keyring_(std::move(keyring)) {}

bool TokenDigester::Compute(int pepper_id, std::string_view token,
                            Digest* out) const noexcept {
  const uint8_t* key = keyring_->key(pepper_id);
  if (out == nullptr || key == nullptr) return false;
  return crypto_generichash(
             out->data(), out->size(),
             reinterpret_cast<const unsigned char*>(token.data()), token.size(),
             key, Keyring::kKeySize) == 0;
}

Digest TokenDigester::Fingerprint(int pepper_id) const {
  Digest out{};
  if (!Compute(pepper_id, kFingerprintLabel, &out)) out.fill(0);
  return out;
}

}  // namespace keygate::crypto
