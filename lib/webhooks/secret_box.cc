// lib/webhooks/secret_box.cc: sealing webhook signing secrets for storage.
#include "lib/webhooks/secret_box.h"

#include <sodium.h>

#include <string>

#include "lib/crypto/keyring_keys.h"
#include "lib/crypto/sodium.h"

namespace keygate::webhooks {
namespace {

constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "kgwhsec1";
constexpr uint64_t kKdfSubkeyId = 1;
constexpr size_t kNonceSize = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagSize = crypto_aead_xchacha20poly1305_ietf_ABYTES;

static_assert(crypto_kdf_KEYBYTES == Keyring::kKeySize);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES >=
                  crypto_kdf_BYTES_MIN &&
              crypto_aead_xchacha20poly1305_ietf_KEYBYTES <=
                  crypto_kdf_BYTES_MAX);

// SealingKey is the derived key, wiped on destruction.
class SealingKey {
 public:
  ~SealingKey() { sodium_memzero(key_, sizeof(key_)); }
  absl::Status Derive(const Keyring& keyring, int pepper_id) {
    if (absl::Status s = crypto::InitSodium(); !s.ok()) return s;
    const uint8_t* master = crypto::KeyringKeys::Key(keyring, pepper_id);
    if (master == nullptr) {
      return absl::FailedPreconditionError(
          "the keyring lacks the pepper a webhook secret is sealed with");
    }
    if (crypto_kdf_derive_from_key(key_, sizeof(key_), kKdfSubkeyId,
                                   kKdfContext, master) != 0) {
      return absl::InternalError("crypto_kdf_derive_from_key failed");
    }
    return absl::OkStatus();
  }
  const unsigned char* data() const { return key_; }

 private:
  unsigned char key_[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
};

}  // namespace

absl::StatusOr<std::string> SealSecret(const Keyring& keyring, int pepper_id,
                                       std::string_view associated,
                                       std::string_view secret) {
  SealingKey key;
  if (absl::Status s = key.Derive(keyring, pepper_id); !s.ok()) return s;
  std::string out(kNonceSize + secret.size() + kTagSize, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  crypto::RandomBytes(bytes, kNonceSize);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      bytes + kNonceSize, &written,
      reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
      reinterpret_cast<const unsigned char*>(associated.data()),
      associated.size(), nullptr, bytes, key.data());
  out.resize(kNonceSize + written);
  return out;
}

absl::StatusOr<SecretString> OpenSecret(const Keyring& keyring, int pepper_id,
                                        std::string_view associated,
                                        std::string_view sealed) {
  SealingKey key;
  if (absl::Status s = key.Derive(keyring, pepper_id); !s.ok()) return s;
  if (sealed.size() < kNonceSize + kTagSize || sealed.size() > 4096) {
    return absl::DataLossError("sealed webhook secret has a bad size");
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(sealed.data());
  std::string plain(sealed.size() - kNonceSize - kTagSize, '\0');
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &written, nullptr,
          bytes + kNonceSize, sealed.size() - kNonceSize,
          reinterpret_cast<const unsigned char*>(associated.data()),
          associated.size(), bytes, key.data()) != 0) {
    sodium_memzero(plain.data(), plain.size());
    return absl::DataLossError("sealed webhook secret does not open");
  }
  SecretString out(std::string_view(plain.data(), written));
  sodium_memzero(plain.data(), plain.size());
  return out;
}

}  // namespace keygate::webhooks
