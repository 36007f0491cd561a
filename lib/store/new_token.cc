// lib/store/new_token.cc: the metadata of a newly minted token.
#include "lib/store/new_token.h"

#include <algorithm>
#include <utility>

#include "lib/store/store_impl.h"

namespace keygate::store {

void FillNewToken(std::string_view organization,
                  std::string_view service_account, std::string slug,
                  const TokenSpec& spec, absl::Time now,
                  std::string_view actor, TokenMetadata& m) {
  m.organization = std::string(organization);
  m.service_account = std::string(service_account);
  m.slug = std::move(slug);
  m.name = spec.name;
  m.scopes = spec.scopes;
  std::sort(m.scopes.begin(), m.scopes.end());
  m.scopes.erase(std::unique(m.scopes.begin(), m.scopes.end()),
                 m.scopes.end());
  m.created_at = now;
  m.created_by = std::string(actor);
  m.expires_at.reset();
  if (spec.expires_at) m.expires_at = StoredTime(*spec.expires_at);
}

}  // namespace keygate::store
