// lib/index/principal.cc: Principal's accessors over its interned group.
#include "keygate/principal.h"

#include <algorithm>
#include <cstring>

#include "lib/index/grant_group.h"

namespace keygate {

static_assert(kMaxSlugSize <= 255, "slug_size_ is one byte");

Principal::Principal(const internal::GrantGroup* group, std::string_view slug,
                     std::optional<absl::Time> expires_at)
    : group_(group),
      expires_at_(expires_at),
      slug_size_(static_cast<uint8_t>(std::min(slug.size(), kMaxSlugSize))) {
  std::memcpy(slug_, slug.data(), slug_size_);
}

std::string_view Principal::organization() const {
  return group_->organization;
}
std::string_view Principal::service_account() const {
  return group_->service_account;
}
const std::vector<std::string>& Principal::scopes() const {
  return group_->scopes;
}

bool Principal::HasScope(std::string_view scope) const {
  if (group_ == nullptr) return false;
  std::optional<scope::RequiredScope> required = group_->catalog->Parse(scope);
  return required && group_->catalog->Grants(group_->scope_mask, *required);
}

}  // namespace keygate
