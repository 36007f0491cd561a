// keygate/http/jwt.h: strict HS256 JSON Web Tokens for `keygate serve`.
//
// The reference host authenticates management calls with a JWT whose
// organization claim names the caller's tenant and whose `sub` names the
// actor. Only HS256 is accepted: the algorithm is fixed by the verifier and
// never taken from the token. HMAC-SHA-256 is libsodium's; JSON parsing is
// nlohmann-json's (no exception escapes this API).
#ifndef KEYGATE_HTTP_JWT_H_
#define KEYGATE_HTTP_JWT_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace keygate::http {

// Smallest HS256 key accepted (RFC 7518 section 3.2: at least the hash size).
inline constexpr size_t kMinJwtKeyBytes = 32;
// Largest HS256 key accepted.
inline constexpr size_t kMaxJwtKeyBytes = 4096;
// Largest JWT (compact serialization) Verify will look at; larger ones are
// refused before any decoding.
inline constexpr size_t kMaxJwtBytes = 8192;

// JwtClaims are the claims a verified JWT vouches for.
struct JwtClaims {
  std::string organization;  // the organization claim (default "org")
  std::string subject;       // `sub`: the actor
  absl::Time expires_at;     // `exp`
  std::optional<absl::Time> not_before;  // `nbf`, when present
};

// JwtVerifier checks HS256 JWTs against one key. The key lives in
// sodium_malloc'd memory that is wiped when the verifier is destroyed.
// Move-only; a moved-from verifier must not be used. Verify is const and
// safe for concurrent use without external synchronization.
class JwtVerifier {
 public:
  // FromSecretFile reads the key from the file at `path`: its bytes, with
  // one trailing "\n" or "\r\n" trimmed (the same rule `keygate jwt mint`
  // applies); any other byte, including a second newline, is key. Fails with NotFound /
  // PermissionDenied / Internal if the file cannot be read, and with
  // InvalidArgument if the key is empty, shorter than kMinJwtKeyBytes or
  // longer than kMaxJwtKeyBytes. `org_claim` names the claim that carries
  // the organization (non-empty; InvalidArgument otherwise).
  static absl::StatusOr<JwtVerifier> FromSecretFile(
      const std::string& path, std::string org_claim = "org");

  // FromKey is FromSecretFile for a key already in memory (no trimming).
  // The caller remains responsible for wiping its own copy of `key`.
  static absl::StatusOr<JwtVerifier> FromKey(std::string_view key,
                                             std::string org_claim = "org");

  JwtVerifier(JwtVerifier&&) noexcept = default;
  JwtVerifier& operator=(JwtVerifier&&) noexcept = default;
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;
  ~JwtVerifier() = default;

  // Verify checks `jwt` (compact serialization, without "Bearer ") at time
  // `now` and returns its claims. Rules: at most kMaxJwtBytes; exactly three
  // unpadded base64url segments; a header object whose "alg" is exactly
  // "HS256" and whose "typ", if present, is "JWT"; a valid HMAC-SHA-256
  // signature (compared in constant time) checked before the payload is
  // parsed; a payload object with a numeric `exp` > now (no leeway), a
  // numeric `nbf` <= now when present, the organization claim and `sub` as
  // non-empty strings. `iat` and other claims are ignored.
  //
  // Every failure is Unauthenticated with a short fixed reason for the
  // host's log (e.g. "jwt: expired"); the token itself is never echoed.
  absl::StatusOr<JwtClaims> Verify(std::string_view jwt, absl::Time now) const;

  // org_claim returns the name of the organization claim.
  const std::string& org_claim() const { return org_claim_; }

 private:
  struct KeyDeleter {
    void operator()(unsigned char* p) const;
  };

  JwtVerifier(std::unique_ptr<unsigned char[], KeyDeleter> key,
              size_t key_size, std::string org_claim)
      : key_(std::move(key)),
        key_size_(key_size),
        org_claim_(std::move(org_claim)) {}

  std::unique_ptr<unsigned char[], KeyDeleter> key_;
  size_t key_size_ = 0;
  std::string org_claim_;
};

// MintJwt returns an HS256 JWT signed with `key` whose header is
// {"alg":"HS256","typ":"JWT"} and whose payload is
// {<org_claim>: organization, "sub": subject, "iat": now, "exp": now + ttl}
// (times in whole seconds since the Unix epoch, rounded down). For the CLI,
// tests and README walks; it does not check the key length. Fails with
// InvalidArgument if `org_claim`, `organization` or `subject` is empty or not
// valid UTF-8, or `ttl` is not positive.
absl::StatusOr<std::string> MintJwt(std::string_view key,
                                    std::string_view org_claim,
                                    std::string_view organization,
                                    std::string_view subject, absl::Time now,
                                    absl::Duration ttl);

}  // namespace keygate::http

#endif  // KEYGATE_HTTP_JWT_H_
