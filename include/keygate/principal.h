// keygate/principal.h: who a verified token speaks for.
#ifndef KEYGATE_PRINCIPAL_H_
#define KEYGATE_PRINCIPAL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/time/time.h"
#include "keygate/validation.h"

namespace keygate {

namespace internal {
struct GrantGroup;
class PrincipalFactory;
}  // namespace internal

// Principal is the identity a successfully verified token carries: its
// organization, service account, token slug, scopes and expiry. It is a
// small value (no heap memory: making, copying and destroying one never
// allocates and touches no shared counter): the token slug and expiry are
// copied in, the organization, account and scopes point at a record the
// store interns and keeps until the Store is destroyed. A Principal is a
// snapshot at verify time: it stays valid if the token is revoked or the
// account deleted later, but it must not outlive the Store that made it.
// Safe to read from several threads.
class Principal {
 public:
  // A default-constructed Principal holds no identity (valid() is false);
  // only Store::Verify makes valid ones.
  Principal() = default;

  // valid reports whether this holds a verified identity.
  bool valid() const { return group_ != nullptr; }

  // The accessors below REQUIRE valid(). Returned views live as long as this
  // Principal (or any copy of it) and its Store.
  std::string_view organization() const ABSL_ATTRIBUTE_LIFETIME_BOUND;
  std::string_view service_account() const ABSL_ATTRIBUTE_LIFETIME_BOUND;
  std::string_view token_slug() const ABSL_ATTRIBUTE_LIFETIME_BOUND {
    return std::string_view(slug_, slug_size_);
  }
  const std::vector<std::string>& scopes() const ABSL_ATTRIBUTE_LIFETIME_BOUND;
  std::optional<absl::Time> expires_at() const { return expires_at_; }

  // HasScope reports whether the token's scopes grant `scope` (write implies
  // read; "read:*" / "write:*" cover every module). False for a malformed
  // `scope` or an invalid Principal.
  bool HasScope(std::string_view scope) const;

 private:
  // The store's verify path builds Principals from its index.
  friend class internal::PrincipalFactory;
  Principal(const internal::GrantGroup* group, std::string_view slug,
            std::optional<absl::Time> expires_at);

  const internal::GrantGroup* group_ = nullptr;
  std::optional<absl::Time> expires_at_;
  uint8_t slug_size_ = 0;
  char slug_[kMaxSlugSize] = {};
};

}  // namespace keygate

#endif  // KEYGATE_PRINCIPAL_H_
