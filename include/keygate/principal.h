// keygate/principal.h: who a verified token speaks for.
#ifndef KEYGATE_PRINCIPAL_H_
#define KEYGATE_PRINCIPAL_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/time/time.h"

namespace keygate {

namespace internal {
struct TokenGrant;
class PrincipalFactory;
}  // namespace internal

// Principal is the identity a successfully verified token carries: its
// organization, service account, token slug, scopes and expiry. It shares an
// immutable record with the store's verify index, so copying it never copies
// strings and it stays valid (a snapshot at verify time) even if the token is
// revoked later. Safe to read from several threads.
class Principal {
 public:
  // A default-constructed Principal holds no identity (valid() is false);
  // only Store::Verify makes valid ones.
  Principal() = default;

  // valid reports whether this holds a verified identity.
  bool valid() const { return grant_ != nullptr; }

  // The accessors below REQUIRE valid(). Returned views live as long as this
  // Principal (or any copy of it).
  std::string_view organization() const ABSL_ATTRIBUTE_LIFETIME_BOUND;
  std::string_view service_account() const ABSL_ATTRIBUTE_LIFETIME_BOUND;
  std::string_view token_slug() const ABSL_ATTRIBUTE_LIFETIME_BOUND;
  const std::vector<std::string>& scopes() const ABSL_ATTRIBUTE_LIFETIME_BOUND;
  std::optional<absl::Time> expires_at() const;

  // HasScope reports whether the token's scopes grant `scope` (write implies
  // read; "read:*" / "write:*" cover every module). False for a malformed
  // `scope`.
  bool HasScope(std::string_view scope) const;

 private:
  // The store's verify path builds Principals from its grants.
  friend class internal::PrincipalFactory;
  explicit Principal(std::shared_ptr<const internal::TokenGrant> grant)
      : grant_(std::move(grant)) {}

  std::shared_ptr<const internal::TokenGrant> grant_;
};

}  // namespace keygate

#endif  // KEYGATE_PRINCIPAL_H_
