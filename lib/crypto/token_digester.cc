// lib/crypto/token_digester.cc: keyed BLAKE2b-256 over token strings.
#include "lib/crypto/token_digester.h"

#include <sodium.h>

#include <cstring>
#include <new>

#include "lib/crypto/keyring_keys.h"
#include "lib/crypto/sodium.h"

namespace keygate::crypto {

static_assert(kDigestSize == crypto_generichash_BYTES);
static_assert(Keyring::kKeySize == crypto_generichash_KEYBYTES);

// States is one sodium_malloc'd block: the keyed initial state of every
// pepper id (slot 0 unused). The states hold the key in their buffers, hence
// the guarded, locked memory.
struct TokenDigester::States {
  crypto_generichash_state state[Keyring::kMaxPepperId + 1];
  bool present[Keyring::kMaxPepperId + 1];
};

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
    if (id < 1 || id > Keyring::kMaxPepperId || key == nullptr ||
        crypto_generichash_init(&states->state[id], key, Keyring::kKeySize,
                                kDigestSize) != 0) {
      sodium_free(memory);
      return absl::InternalError("cannot initialize the keyed digest");
    }
    states->present[id] = true;
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
  if (out == nullptr || pepper_id < 1 || pepper_id > Keyring::kMaxPepperId ||
      !states_->present[pepper_id]) {
    return false;
  }
  crypto_generichash_state scratch;
  std::memcpy(&scratch, &states_->state[pepper_id], sizeof scratch);
  crypto_generichash_update(
      &scratch, reinterpret_cast<const unsigned char*>(token.data()),
      token.size());
  crypto_generichash_final(&scratch, out->data(), out->size());
  sodium_memzero(&scratch, sizeof scratch);
  return true;
}

Digest TokenDigester::Fingerprint(int pepper_id) const {
  Digest out{};
  if (!Compute(pepper_id, kFingerprintLabel, &out)) out.fill(0);
  return out;
}

}  // namespace keygate::crypto
