// lib/index/token_grant.h: what the verify index knows about one token.
#ifndef KEYGATE_LIB_INDEX_TOKEN_GRANT_H_
#define KEYGATE_LIB_INDEX_TOKEN_GRANT_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "keygate/principal.h"
#include "lib/scope/scope.h"

namespace keygate::index {

// AccountState is shared by every grant of one service account, so disabling
// or deleting the account affects all its tokens with one atomic store.
struct AccountState {
  std::atomic<bool> disabled{false};
  std::atomic<bool> deleted{false};
};

}  // namespace keygate::index

namespace keygate::internal {

// TokenGrant is an immutable snapshot of a token for verification; a
// revocation replaces it with a revoked copy rather than mutating it, so
// readers never race with writers on its fields.
struct TokenGrant {
  std::string organization;
  std::string service_account;
  std::string token_slug;
  std::vector<std::string> scopes;
  scope::ScopeMask scope_mask;
  std::shared_ptr<const scope::ScopeCatalog> catalog;
  std::optional<absl::Time> expires_at;
  bool revoked = false;
  std::shared_ptr<index::AccountState> account;
};

// PrincipalFactory makes the Principal of a verified grant; Principal's
// constructor from a grant is private to keygate.
class PrincipalFactory {
 public:
  // Make returns a Principal sharing `grant` (valid() iff grant != nullptr).
  static Principal Make(std::shared_ptr<const TokenGrant> grant) {
    return Principal(std::move(grant));
  }
};

}  // namespace keygate::internal

#endif  // KEYGATE_LIB_INDEX_TOKEN_GRANT_H_
