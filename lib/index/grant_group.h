// lib/index/grant_group.h: what the tokens of one account with one scope set
// share in the verify index, and how a verified token becomes a Principal.
#ifndef KEYGATE_LIB_INDEX_GRANT_GROUP_H_
#define KEYGATE_LIB_INDEX_GRANT_GROUP_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "keygate/principal.h"
#include "keygate/validation.h"
#include "lib/scope/scope.h"

namespace keygate::index {

// AccountState is shared by every grant group of one service account, so
// disabling or deleting the account affects all its tokens with one atomic
// store.
struct AccountState {
  std::atomic<bool> disabled{false};
  std::atomic<bool> deleted{false};
};

// TokenEntry is what VerifyIndex::Find copies out of the index for one
// token: a snapshot, owned by the caller (no reference into the index but
// the immortal `group`).
struct TokenEntry {
  const ::keygate::internal::GrantGroup* group = nullptr;
  bool revoked = false;
  std::optional<absl::Time> expires_at;
  // rotated: expires_at is the grace end of a rotated-out token (a failure
  // past it is a revocation, not an expiry).
  bool rotated = false;
  uint8_t slug_size = 0;
  char slug[kMaxSlugSize];  // the first slug_size bytes are the token slug
};

}  // namespace keygate::index

namespace keygate::internal {

// GrantGroup is the interned part of a token's grant: organization, account,
// scopes (and their compiled mask), the account's live state. Immutable once
// made, and kept by its VerifyIndex until the index is destroyed, so a
// Principal can point at it without a reference count.
struct GrantGroup {
  std::string organization;
  std::string service_account;
  std::vector<std::string> scopes;  // sorted, normalized
  scope::ScopeMask scope_mask;
  const scope::ScopeCatalog* catalog = nullptr;  // outlives the index
  std::shared_ptr<index::AccountState> account;
};

// PrincipalFactory makes the Principal of a verified token; Principal's
// constructor is private to keygate.
class PrincipalFactory {
 public:
  // Make returns a valid Principal for `entry` (REQUIRES: entry.group set).
  // Copies the slug; no allocation.
  static Principal Make(const index::TokenEntry& entry) {
    return Principal(entry.group,
                     std::string_view(entry.slug, entry.slug_size),
                     entry.expires_at);
  }
};

}  // namespace keygate::internal

#endif  // KEYGATE_LIB_INDEX_GRANT_GROUP_H_
