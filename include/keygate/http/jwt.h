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
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "keygate/secret_string.h"

namespace keygate::http {

// Smallest HS256 key accepted (RFC 7518 section 3.2: at least the hash size).
inline constexpr size_t kMinJwtKeyBytes = 32;
// Largest HS256 key accepted.
inline constexpr size_t kMaxJwtKeyBytes = 4096;
// Largest JWT (compact serialization) Verify will look at; larger ones are
// refused before any decoding.
inline constexpr size_t kMaxJwtBytes = 8192;
// Deepest JSON nesting accepted in a JWT header or payload (the object
// itself is depth 1, an array inside it depth 2). Deeper input is refused
// while it is read, so no work is proportional to its nesting.
inline constexpr int kMaxJwtJsonDepth = 8;
// Largest JwtVerifierOptions::leeway accepted.
inline constexpr absl::Duration kMaxJwtLeeway = absl::Minutes(5);
// Largest JwtVerifierOptions::max_lifetime accepted.
inline constexpr absl::Duration kMaxJwtMaxLifetime = absl::Hours(24 * 366);
// Largest NumericDate (exp, nbf, iat) accepted, in seconds since the Unix
// epoch: 9999-12-31T23:59:59Z. Dates must also be >= 0.
inline constexpr int64_t kMaxJwtNumericDate = 253402300799;

// JwtVerifierOptions are the claim rules of a JwtVerifier. Every field is
// checked by JwtVerifier::FromKey / FromSecretFile (InvalidArgument when out
// of range).
struct JwtVerifierOptions {
  // Name of the claim that carries the organization: non-empty and none of
  // the registered claims keygate interprets (sub, exp, nbf, iat, iss, aud).
  // Default: "org".
  std::string org_claim = "org";

  // Longest lifetime a JWT may claim: refused when `exp - now` exceeds it
  // (plus `leeway`, for a minter whose clock runs ahead), and, when `iat`
  // is present, when `exp - iat` exceeds it. Positive, at most
  // kMaxJwtMaxLifetime.
  // Default: 24 hours.
  absl::Duration max_lifetime = absl::Hours(24);

  // Clock skew tolerated on `exp` (valid while now < exp + leeway), `nbf`
  // (valid once now + leeway >= nbf) and `iat` (refused when later than
  // now + leeway). Zero to kMaxJwtLeeway.
  // Default: zero (no skew tolerated).
  absl::Duration leeway = absl::ZeroDuration();

  // When set, `iss` must be present and a string equal to it (non-empty,
  // valid UTF-8). When unset, `iss` is not looked at.
  // Default: unset.
  std::optional<std::string> issuer;

  // When set, `aud` must be present and be either a string equal to it or an
  // array of strings containing it (RFC 7519 section 4.1.3). When unset, a
  // JWT that carries `aud` at all is refused: it was issued for a named
  // audience, and this verifier does not identify itself with any (RFC 7519:
  // such a JWT MUST be rejected). Non-empty, valid UTF-8 when set.
  // Default: unset.
  std::optional<std::string> audience;
};

// JwtClaims are the claims a verified JWT vouches for.
struct JwtClaims {
  std::string organization;  // the organization claim (default "org")
  std::string subject;       // `sub`: the actor
  absl::Time expires_at;     // `exp`
  std::optional<absl::Time> not_before;  // `nbf`, when present
  std::optional<absl::Time> issued_at;   // `iat`, when present
};

// ReadJwtSecretFile reads an HS256 key from the file at `path`: its bytes,
// with one trailing "\n" or "\r\n" trimmed; any other byte, including a
// second newline, is key. The one reader of JWT secret files (`keygate serve`
// and `keygate jwt mint` both use it). The file is opened once and checked
// through that descriptor (no stat/open race): it must be a regular file
// (InvalidArgument otherwise) that neither group nor others may access in
// any way (PermissionDenied otherwise, with the `chmod 600` remedy: whoever
// can read the key can mint a JWT for any organization). Fails with NotFound
// / PermissionDenied / Unavailable / Internal when the file cannot be opened
// or read, and with InvalidArgument if the key is empty, shorter than
// kMinJwtKeyBytes or longer than kMaxJwtKeyBytes. Messages name the path,
// never a key byte. Every scratch copy of the key is wiped. Thread-safe.
absl::StatusOr<SecretString> ReadJwtSecretFile(const std::string& path);

// JwtVerifier checks HS256 JWTs against one key. The key lives in
// sodium_malloc'd memory that is wiped when the verifier is destroyed.
// Move-only; a moved-from verifier must not be used. Verify is const and
// safe for concurrent use without external synchronization.
class JwtVerifier {
 public:
  // FromSecretFile reads the key with ReadJwtSecretFile (whose errors it
  // returns) and checks `options` as FromKey does.
  static absl::StatusOr<JwtVerifier> FromSecretFile(
      const std::string& path, const JwtVerifierOptions& options = {});
  // FromSecretFile with default options but for the organization claim name.
  static absl::StatusOr<JwtVerifier> FromSecretFile(const std::string& path,
                                                    std::string org_claim);

  // FromKey makes a verifier for a key already in memory (no trimming).
  // Fails with InvalidArgument if the key is empty, shorter than
  // kMinJwtKeyBytes or longer than kMaxJwtKeyBytes, or if a field of
  // `options` is out of its documented range. The caller remains responsible
  // for wiping its own copy of `key`.
  static absl::StatusOr<JwtVerifier> FromKey(
      std::string_view key, const JwtVerifierOptions& options = {});
  // FromKey with default options but for the organization claim name.
  static absl::StatusOr<JwtVerifier> FromKey(std::string_view key,
                                             std::string org_claim);

  JwtVerifier(JwtVerifier&&) noexcept = default;
  JwtVerifier& operator=(JwtVerifier&&) noexcept = default;
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;
  ~JwtVerifier() = default;

  // Verify checks `jwt` (compact serialization, without "Bearer ") at time
  // `now` and returns its claims. Rules, in order: at most kMaxJwtBytes;
  // exactly three unpadded, canonical base64url segments; a valid
  // HMAC-SHA-256 signature (compared in constant time) before any JSON is
  // read; header and payload each a JSON object no deeper than
  // kMaxJwtJsonDepth with no member name twice in any object (names compared
  // after unescaping); a header whose "alg" is exactly "HS256", whose "typ",
  // if present, is "JWT", and without "crit"; a payload whose `exp` and,
  // when present, `nbf` and `iat` are NumericDates (JSON numbers, integer or
  // decimal, finite, 0 to kMaxJwtNumericDate) that satisfy the options'
  // lifetime and leeway rules; `iss` and `aud` as the options say; the
  // organization claim and `sub` as non-empty strings. Other claims are
  // ignored.
  //
  // Every failure is Unauthenticated with a short fixed reason for the
  // host's log (e.g. "jwt: expired", "jwt: lifetime too long", "jwt:
  // duplicate member"); the token itself is never echoed.
  absl::StatusOr<JwtClaims> Verify(std::string_view jwt, absl::Time now) const;

  // options returns the rules this verifier applies.
  const JwtVerifierOptions& options() const { return options_; }
  // org_claim returns the name of the organization claim.
  const std::string& org_claim() const { return options_.org_claim; }

 private:
  struct KeyDeleter {
    void operator()(unsigned char* p) const;
  };

  JwtVerifier(std::unique_ptr<unsigned char[], KeyDeleter> key,
              size_t key_size, JwtVerifierOptions options)
      : key_(std::move(key)),
        key_size_(key_size),
        options_(std::move(options)) {}

  std::unique_ptr<unsigned char[], KeyDeleter> key_;
  size_t key_size_ = 0;
  JwtVerifierOptions options_;
};

// MintJwtOptions are the optional parts of a JWT MintJwt makes.
struct MintJwtOptions {
  // Name of the organization claim (same rules as
  // JwtVerifierOptions::org_claim).
  // Default: "org".
  std::string org_claim = "org";
  // When set, the `iss` claim (non-empty, valid UTF-8).
  // Default: unset (no `iss`).
  std::optional<std::string> issuer;
  // When set, the `aud` claim, as a single string (non-empty, valid UTF-8).
  // Default: unset (no `aud`).
  std::optional<std::string> audience;
};

// MintJwt returns an HS256 JWT signed with `key` whose header is
// {"alg":"HS256","typ":"JWT"} and whose payload is
// {<org_claim>: organization, "sub": subject, ["iss": issuer,]
// ["aud": audience,] "iat": now, "exp": now + ttl} (times in whole seconds
// since the Unix epoch, rounded down). For the CLI, tests and README walks;
// it does not check the key length, nor `ttl` against any verifier's
// max_lifetime. Fails with InvalidArgument if the organization claim name is
// not acceptable (see JwtVerifierOptions::org_claim), if `organization`,
// `subject` or a set issuer/audience is empty or not valid UTF-8, or if
// `ttl` is not positive. Thread-safe.
absl::StatusOr<std::string> MintJwt(std::string_view key,
                                    std::string_view organization,
                                    std::string_view subject, absl::Time now,
                                    absl::Duration ttl,
                                    const MintJwtOptions& options);

// MintJwt with only the organization claim name among MintJwtOptions.
absl::StatusOr<std::string> MintJwt(std::string_view key,
                                    std::string_view org_claim,
                                    std::string_view organization,
                                    std::string_view subject, absl::Time now,
                                    absl::Duration ttl);

}  // namespace keygate::http

#endif  // KEYGATE_HTTP_JWT_H_
