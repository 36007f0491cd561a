// keygate/http/scanner_signature.h: the signature a secret scanner puts on
// a leaked-token report.
//
// GitHub's secret scanning partner program signs each report it POSTs with
// ECDSA over NIST P-256 and SHA-256 ("ECDSA-NIST-P256V1-SHA256"), computed
// over the exact raw request body. The request names the key in the
// `Github-Public-Key-Identifier` header and carries the DER signature,
// base64-encoded, in `Github-Public-Key-Signature`. The public keys are
// published as JSON (https://api.github.com/meta/public_keys/secret_scanning):
//
//   {"public_keys": [{"key_identifier": "...", "key": "-----BEGIN PUBLIC
//     KEY-----\n...", "is_current": true}, ...]}
//
// The operator saves that document to a file; ScannerSignatureVerifier
// loads it and checks signatures. See docs/secret-scanning.md.
#ifndef KEYGATE_HTTP_SCANNER_SIGNATURE_H_
#define KEYGATE_HTTP_SCANNER_SIGNATURE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace keygate::http {

// kScannerKeyIdentifierHeader names the header that says which key signed.
inline constexpr std::string_view kScannerKeyIdentifierHeader =
    "Github-Public-Key-Identifier";
// kScannerSignatureHeader names the header carrying the base64 DER
// signature.
inline constexpr std::string_view kScannerSignatureHeader =
    "Github-Public-Key-Signature";

// kMaxScannerKeysFileBytes is the largest keys document accepted (GitHub's
// is under 2 KiB).
inline constexpr size_t kMaxScannerKeysFileBytes = 256 * 1024;
// kMaxScannerKeys is the most keys one document may list.
inline constexpr size_t kMaxScannerKeys = 64;
// kMaxScannerKeyIdentifierSize bounds a key identifier (GitHub's are 64 hex
// characters), in the document and in a request header.
inline constexpr size_t kMaxScannerKeyIdentifierSize = 256;

// ScannerSignatureVerifier holds a scanner's ECDSA P-256 public keys by key
// identifier and checks report signatures. Immutable once made; copies
// share the keys. Safe for concurrent use without external synchronization.
class ScannerSignatureVerifier {
 public:
  // FromKeysFile reads the keys document at `path` (at most
  // kMaxScannerKeysFileBytes) and parses it with FromKeysJson. NotFound or
  // PermissionDenied if the file cannot be read, InvalidArgument if it is
  // too large or not a valid document; the message names the file and the
  // offending entry (never key material).
  static absl::StatusOr<ScannerSignatureVerifier> FromKeysFile(
      const std::string& path);

  // FromKeysJson parses a keys document: an object whose "public_keys" is a
  // non-empty array (at most kMaxScannerKeys) of objects with a non-empty,
  // unique "key_identifier" (printable ASCII, at most
  // kMaxScannerKeyIdentifierSize bytes), a "key" holding exactly one PEM
  // "PUBLIC KEY" block of an EC key on P-256 (prime256v1), and an optional
  // boolean "is_current" (informational: every listed key verifies, so a
  // report signed during GitHub's key rotation still passes). Other members
  // are ignored. InvalidArgument naming the first bad entry
  // ("public_keys[2].key: not a P-256 key") otherwise.
  static absl::StatusOr<ScannerSignatureVerifier> FromKeysJson(
      std::string_view document);

  // Verify checks that `signature_base64` (standard base64 with padding of a
  // DER-encoded ECDSA signature) is a valid signature of the SHA-256 of
  // `body`, byte for byte, by the key named `key_identifier`. OK if so;
  // otherwise Unauthenticated with a fixed reason as message ("scanner
  // signature: unknown key identifier", "... malformed signature", "... bad
  // signature"), never echoing the input. Does not allocate in proportion
  // to untrusted header sizes beyond the bounds above.
  absl::Status Verify(std::string_view key_identifier,
                      std::string_view signature_base64,
                      std::string_view body) const;

  // key_count is how many keys were loaded (at least one).
  size_t key_count() const;

 private:
  struct State;
  explicit ScannerSignatureVerifier(std::shared_ptr<const State> state);

  std::shared_ptr<const State> state_;
};

}  // namespace keygate::http

#endif  // KEYGATE_HTTP_SCANNER_SIGNATURE_H_
