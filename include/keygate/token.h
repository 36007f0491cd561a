// keygate/token.h: API token value types.
#ifndef KEYGATE_TOKEN_H_
#define KEYGATE_TOKEN_H_

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "keygate/secret_string.h"

namespace keygate {

// TokenSpec is the input of Store::CreateToken.
struct TokenSpec {
  // Display name: 1-200 bytes of valid UTF-8 without control characters,
  // unique among the service account's active tokens.
  std::string name;
  // Optional slug (pattern ^[a-z0-9][a-z0-9-]*[a-z0-9]$, 2-100 chars, unique
  // per service account). Default: derived from the name.
  std::optional<std::string> slug;
  // Scopes: "read:<module>", "write:<module>", "delete:<module>", "read:*" or
  // "write:*", where <module> is one of Options::scope_modules. At least one;
  // duplicates are removed; stored sorted. Write implies read.
  std::vector<std::string> scopes;
  // Optional expiry; must be in the future. Default: never expires.
  std::optional<absl::Time> expires_at;
};

// TokenMetadata is everything stored about a token except its secret, which
// is never stored.
struct TokenMetadata {
  std::string organization;
  std::string service_account;  // the account's slug
  std::string slug;
  std::string name;
  std::vector<std::string> scopes;  // sorted, normalized
  absl::Time created_at;
  std::string created_by;
  std::optional<absl::Time> expires_at;
  std::optional<absl::Time> revoked_at;
  std::string revoked_by;  // empty unless revoked
  int pepper_id = 0;       // which pepper digested it (not secret)
  // The whole second of the token's latest successful Verify, or nullopt if
  // it never verified (or only before this field existed). Kept in memory
  // and written to the store every Options::last_used_flush_interval and at
  // Close, so it may lag the latest verify by max(1 s, interval / 60); a
  // crash loses at most one interval of it.
  std::optional<absl::Time> last_used_at;
  // Rotation (Store::RotateToken). On the token that was rotated out:
  // `rotated_to` is its successor's slug and `grace_ends_at` the instant it
  // stops verifying (its grace end); it no longer holds its name. Once the
  // grace has ended, ListTokens reports it as revoked at `grace_ends_at` by
  // kRevokedByRotation. On the successor: `rotated_from` is the slug of the
  // token it replaced. All empty for a token never rotated.
  std::string rotated_to;
  std::string rotated_from;
  std::optional<absl::Time> grace_ends_at;

  bool revoked() const { return revoked_at.has_value(); }
  // rotated_out reports whether the token was rotated (it has a successor):
  // in its grace, or past it.
  bool rotated_out() const { return grace_ends_at.has_value(); }
  // effective_expiry is the instant the token stops verifying unless it is
  // revoked first: the earlier of its expiry and its grace end; nullopt if
  // neither is set.
  std::optional<absl::Time> effective_expiry() const {
    if (!grace_ends_at) return expires_at;
    if (!expires_at) return grace_ends_at;
    return std::min(*expires_at, *grace_ends_at);
  }
  // active reports whether the token is neither revoked nor expired nor past
  // its rotation grace at `now`.
  bool active(absl::Time now) const {
    const std::optional<absl::Time> ends = effective_expiry();
    return !revoked_at.has_value() && (!ends || *ends > now);
  }
};

// kRevokedByRotation is TokenMetadata::revoked_by of a token whose rotation
// grace has ended (as ListTokens reports it).
inline constexpr char kRevokedByRotation[] = "rotation";

// kRevokedByLeak is TokenMetadata::revoked_by of a token revoked because a
// secret scanner reported it leaked (keygate/http/secret_scanning.h): the
// actor of that revocation, so an event feed can tell a leak from an
// operator's revoke.
inline constexpr char kRevokedByLeak[] = "secret-scanning";

// CreatedToken is the result of Store::CreateToken: the metadata plus the
// token's plaintext value. This is the only time the value exists outside
// the caller's request; its buffer is wiped on destruction.
struct CreatedToken {
  TokenMetadata metadata;
  SecretString value;
};

}  // namespace keygate

#endif  // KEYGATE_TOKEN_H_
