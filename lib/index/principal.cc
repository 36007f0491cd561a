#include "keygate/principal.h"

#include "lib/index/token_grant.h"

namespace keygate {

std::string_view Principal::organization() const {
  return grant_->organization;
}
std::string_view Principal::service_account() const {
  return grant_->service_account;
}
std::string_view Principal::token_slug() const { return grant_->token_slug; }
const std::vector<std::string>& Principal::scopes() const {
  return grant_->scopes;
}
std::optional<absl::Time> Principal::expires_at() const {
  return grant_->expires_at;
}

bool Principal::HasScope(std::string_view scope) const {
  if (grant_ == nullptr) return false;
  std::optional<scope::RequiredScope> required = grant_->catalog->Parse(scope);
  return required && grant_->catalog->Grants(grant_->scope_mask, *required);
}

}  // namespace keygate
