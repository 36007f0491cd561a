// lib/webhooks/signature.h: Standard Webhooks signatures
// (https://www.standardwebhooks.com, "Signature scheme").
//
// A secret is "whsec_" + base64(key bytes). The signature of a message is
//   "v1," + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))
// sent in the webhook-signature header, which may carry several
// space-separated signatures (during a secret rotation). All functions are
// thread-safe; key bytes live only in wiped buffers.
#ifndef KEYGATE_LIB_WEBHOOKS_SIGNATURE_H_
#define KEYGATE_LIB_WEBHOOKS_SIGNATURE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "keygate/secret_string.h"

namespace keygate::webhooks {

// kSigningKeySize is the size of the keys GenerateSigningSecret makes
// (Standard Webhooks asks for 24 to 64 bytes).
inline constexpr size_t kSigningKeySize = 32;

// GenerateSigningSecret returns a fresh "whsec_" secret of kSigningKeySize
// random bytes, or Internal if libsodium cannot initialize.
absl::StatusOr<SecretString> GenerateSigningSecret();

// DecodeSigningSecret returns the key bytes of a "whsec_" secret (the
// prefix is optional, as in the reference libraries). InvalidArgument if the
// rest is not base64 or the key is shorter than 16 or longer than 64 bytes;
// the message never contains the secret.
absl::StatusOr<SecretString> DecodeSigningSecret(std::string_view secret);

// SignWebhook returns "v1,<base64 signature>" of (`message_id`,
// `timestamp` in Unix seconds, `body`) under `secret` (a "whsec_" secret),
// or DecodeSigningSecret's error.
absl::StatusOr<std::string> SignWebhook(std::string_view secret,
                                        std::string_view message_id,
                                        int64_t timestamp,
                                        std::string_view body);

// VerifyWebhook checks a received message as a Standard Webhooks consumer
// does: `timestamp` (decimal Unix seconds, the webhook-timestamp header)
// within `tolerance` of `now` either way, and one of the space-separated
// "v1,<base64>" entries of `signatures` (the webhook-signature header)
// equal, in constant time, to the expected signature. OK, or
// Unauthenticated naming the reason (never a secret or signature);
// InvalidArgument for a malformed secret.
absl::Status VerifyWebhook(std::string_view secret, std::string_view message_id,
                           std::string_view timestamp, std::string_view body,
                           std::string_view signatures, absl::Time now,
                           absl::Duration tolerance = absl::Minutes(5));

}  // namespace keygate::webhooks

#endif  // KEYGATE_LIB_WEBHOOKS_SIGNATURE_H_
