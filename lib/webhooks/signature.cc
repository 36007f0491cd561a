// lib/webhooks/signature.cc: Standard Webhooks signatures.
#include "lib/webhooks/signature.h"

#include <sodium.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "keygate/webhook.h"
#include "lib/crypto/sodium.h"

namespace keygate::webhooks {
namespace {

constexpr size_t kMinKeySize = 16;
constexpr size_t kMaxKeySize = 64;

std::string Base64(const unsigned char* data, size_t size) {
  std::string out(sodium_base64_encoded_len(size, sodium_base64_VARIANT_ORIGINAL),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), data, size,
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

// Mac computes the raw HMAC-SHA256 of "{id}.{timestamp}.{body}".
void Mac(std::string_view key, std::string_view message_id,
         std::string_view timestamp, std::string_view body,
         unsigned char out[crypto_auth_hmacsha256_BYTES]) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(
      &state, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  auto update = [&](std::string_view part) {
    crypto_auth_hmacsha256_update(
        &state, reinterpret_cast<const unsigned char*>(part.data()),
        part.size());
  };
  update(message_id);
  update(".");
  update(timestamp);
  update(".");
  update(body);
  crypto_auth_hmacsha256_final(&state, out);
  sodium_memzero(&state, sizeof(state));
}

}  // namespace

absl::StatusOr<SecretString> GenerateSigningSecret() {
  if (absl::Status s = crypto::InitSodium(); !s.ok()) return s;
  unsigned char key[kSigningKeySize];
  crypto::RandomBytes(key, sizeof(key));
  std::string text = std::string(kWebhookSecretPrefix) + Base64(key, sizeof(key));
  sodium_memzero(key, sizeof(key));
  SecretString secret(text);
  sodium_memzero(text.data(), text.size());
  return secret;
}

absl::StatusOr<SecretString> DecodeSigningSecret(std::string_view secret) {
  if (absl::Status s = crypto::InitSodium(); !s.ok()) return s;
  if (secret.substr(0, kWebhookSecretPrefix.size()) == kWebhookSecretPrefix) {
    secret.remove_prefix(kWebhookSecretPrefix.size());
  }
  unsigned char key[kMaxKeySize + 3];
  size_t key_size = 0;
  const char* end = nullptr;
  if (secret.empty() || secret.size() > 4 * ((kMaxKeySize + 2) / 3) ||
      sodium_base642bin(key, sizeof(key), secret.data(), secret.size(),
                        /*ignore=*/nullptr, &key_size, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != secret.data() + secret.size() || key_size < kMinKeySize ||
      key_size > kMaxKeySize) {
    sodium_memzero(key, sizeof(key));
    return absl::InvalidArgumentError(
        "webhook signing secret is not whsec_ + base64 of 16-64 bytes");
  }
  SecretString out(std::string_view(reinterpret_cast<char*>(key), key_size));
  sodium_memzero(key, sizeof(key));
  return out;
}

absl::StatusOr<std::string> SignWebhook(std::string_view secret,
                                        std::string_view message_id,
                                        int64_t timestamp,
                                        std::string_view body) {
  absl::StatusOr<SecretString> key = DecodeSigningSecret(secret);
  if (!key.ok()) return key.status();
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  Mac(key->view(), message_id, absl::StrCat(timestamp), body, mac);
  std::string out = absl::StrCat("v1,", Base64(mac, sizeof(mac)));
  sodium_memzero(mac, sizeof(mac));
  return out;
}

absl::Status VerifyWebhook(std::string_view secret, std::string_view message_id,
                           std::string_view timestamp, std::string_view body,
                           std::string_view signatures, absl::Time now,
                           absl::Duration tolerance) {
  absl::StatusOr<SecretString> key = DecodeSigningSecret(secret);
  if (!key.ok()) return key.status();
  int64_t seconds = 0;
  bool digits = !timestamp.empty() && timestamp.size() <= 18;
  for (char c : timestamp) digits = digits && c >= '0' && c <= '9';
  if (!digits || !absl::SimpleAtoi(absl::string_view(timestamp.data(),
                                                     timestamp.size()),
                                   &seconds)) {
    return absl::UnauthenticatedError("webhook timestamp malformed");
  }
  absl::Time sent = absl::FromUnixSeconds(seconds);
  if (sent < now - tolerance) {
    return absl::UnauthenticatedError("webhook timestamp too old");
  }
  if (sent > now + tolerance) {
    return absl::UnauthenticatedError("webhook timestamp too new");
  }
  unsigned char expected[crypto_auth_hmacsha256_BYTES];
  Mac(key->view(), message_id, timestamp, body, expected);
  bool match = false;
  while (!signatures.empty()) {
    size_t space = signatures.find(' ');
    std::string_view entry = signatures.substr(0, space);
    signatures = space == std::string_view::npos
                     ? std::string_view()
                     : signatures.substr(space + 1);
    if (entry.substr(0, 3) != "v1,") continue;
    entry.remove_prefix(3);
    unsigned char got[crypto_auth_hmacsha256_BYTES + 3];
    size_t got_size = 0;
    const char* end = nullptr;
    if (entry.size() != 44 ||
        sodium_base642bin(got, sizeof(got), entry.data(), entry.size(),
                          nullptr, &got_size, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != entry.data() + entry.size() ||
        got_size != crypto_auth_hmacsha256_BYTES) {
      continue;
    }
    if (crypto_verify_32(got, expected) == 0) match = true;
  }
  sodium_memzero(expected, sizeof(expected));
  if (!match) return absl::UnauthenticatedError("webhook signature mismatch");
  return absl::OkStatus();
}

}  // namespace keygate::webhooks
