// lib/store/active_token_index.cc: names and active counts of tokens
// (lib/store/active_token_index.h).
#include "lib/store/active_token_index.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "lib/base/absl_view.h"

namespace keygate::store {

ActiveTokenIndex::ActiveTokenIndex() {
  static_assert(sizeof(hash_key_) == crypto_shorthash_siphashx24_KEYBYTES);
  randombytes_buf(hash_key_.data(), hash_key_.size());
}

ActiveTokenIndex::~ActiveTokenIndex() {
  sodium_memzero(hash_key_.data(), hash_key_.size());
}

ActiveTokenIndex::NameKey ActiveTokenIndex::KeyOf(std::string_view name) const {
  static_assert(sizeof(NameKey) == crypto_shorthash_siphashx24_BYTES);
  unsigned char out[crypto_shorthash_siphashx24_BYTES];
  crypto_shorthash_siphashx24(
      out, reinterpret_cast<const unsigned char*>(name.data()), name.size(),
      hash_key_.data());
  NameKey key;
  std::memcpy(key.data(), out, sizeof key);
  return key;
}

ActiveTokenIndex::Expiry ActiveTokenIndex::ExpiryOf(
    const TokenMetadata& token) {
  const std::optional<absl::Time> expires_at = token.effective_expiry();
  if (!expires_at) return kNoExpiry;
  // Stored expiries are whole microseconds within 100 years of creation;
  // clamp anything else out of the two reserved values.
  return std::clamp<Expiry>(absl::ToUnixMicros(*expires_at),
                            kSeveralHolders + 1, kNoExpiry - 1);
}

void ActiveTokenIndex::AddExpiry(Organization& organization, Expiry expiry) {
  if (expiry == kNoExpiry) {
    ++organization.without_expiry;
    return;
  }
  organization.expiries.insert(expiry);
  if (expiry <= organization.watermark) ++organization.expired;
}

void ActiveTokenIndex::RemoveExpiry(Organization& organization,
                                    Expiry expiry) {
  if (expiry == kNoExpiry) {
    if (organization.without_expiry > 0) --organization.without_expiry;
    return;
  }
  auto it = organization.expiries.find(expiry);
  if (it == organization.expiries.end()) return;
  organization.expiries.erase(it);
  if (expiry <= organization.watermark) --organization.expired;
}

void ActiveTokenIndex::Add(const TokenMetadata& token) {
  if (token.revoked()) return;
  const Expiry expiry = ExpiryOf(token);
  Organization& organization =
      organizations_[AbslView(token.organization)];
  Account& account = organization.accounts[AbslView(token.service_account)];
  if (token.rotated_out()) {
    account.rotated_out.push_back(expiry);
    AddExpiry(organization, expiry);
    ++token_count_;
    return;
  }
  const NameKey name = KeyOf(token.name);
  auto [slot, inserted] = account.names.try_emplace(name, expiry);
  if (!inserted) {
    std::vector<Expiry>& holders = account.shared_names[name];
    if (slot->second != kSeveralHolders) {
      holders.push_back(slot->second);
      slot->second = kSeveralHolders;
    }
    holders.push_back(expiry);
  }
  AddExpiry(organization, expiry);
  ++token_count_;
}

bool ActiveTokenIndex::RemoveHolder(Account& account, const NameKey& name,
                                    Expiry expiry) {
  auto slot = account.names.find(name);
  if (slot == account.names.end()) return false;
  if (slot->second != kSeveralHolders) {
    if (slot->second != expiry) return false;
    account.names.erase(slot);
    return true;
  }
  auto shared = account.shared_names.find(name);
  if (shared == account.shared_names.end()) return false;
  std::vector<Expiry>& holders = shared->second;
  auto holder = std::find(holders.begin(), holders.end(), expiry);
  if (holder == holders.end()) return false;
  *holder = holders.back();
  holders.pop_back();
  if (holders.size() == 1) {
    slot->second = holders.front();
    account.shared_names.erase(shared);
  }
  return true;
}

void ActiveTokenIndex::Remove(const TokenMetadata& token) {
  if (token.revoked()) return;
  auto organization = organizations_.find(AbslView(token.organization));
  if (organization == organizations_.end()) return;
  auto account =
      organization->second.accounts.find(AbslView(token.service_account));
  if (account == organization->second.accounts.end()) return;
  const Expiry expiry = ExpiryOf(token);
  if (token.rotated_out()) {
    std::vector<Expiry>& rotated = account->second.rotated_out;
    auto holder = std::find(rotated.begin(), rotated.end(), expiry);
    if (holder == rotated.end()) return;
    *holder = rotated.back();
    rotated.pop_back();
  } else if (!RemoveHolder(account->second, KeyOf(token.name), expiry)) {
    return;
  }
  RemoveExpiry(organization->second, expiry);
  --token_count_;
  if (account->second.empty()) {
    organization->second.accounts.erase(account);
  }
  if (organization->second.accounts.empty()) {
    organizations_.erase(organization);
  }
}

void ActiveTokenIndex::ForgetAccount(std::string_view organization_name,
                                     std::string_view service_account) {
  auto organization = organizations_.find(AbslView(organization_name));
  if (organization == organizations_.end()) return;
  auto account =
      organization->second.accounts.find(AbslView(service_account));
  if (account == organization->second.accounts.end()) return;
  for (const auto& [name, expiry] : account->second.names) {
    if (expiry != kSeveralHolders) {
      RemoveExpiry(organization->second, expiry);
      --token_count_;
    }
  }
  for (const auto& [name, holders] : account->second.shared_names) {
    for (Expiry expiry : holders) {
      RemoveExpiry(organization->second, expiry);
      --token_count_;
    }
  }
  for (Expiry expiry : account->second.rotated_out) {
    RemoveExpiry(organization->second, expiry);
    --token_count_;
  }
  organization->second.accounts.erase(account);
  if (organization->second.accounts.empty()) {
    organizations_.erase(organization);
  }
}

bool ActiveTokenIndex::NameTaken(std::string_view organization_name,
                                 std::string_view service_account,
                                 std::string_view name, absl::Time now) const {
  auto organization = organizations_.find(AbslView(organization_name));
  if (organization == organizations_.end()) return false;
  auto account =
      organization->second.accounts.find(AbslView(service_account));
  if (account == organization->second.accounts.end()) return false;
  const NameKey key = KeyOf(name);
  auto slot = account->second.names.find(key);
  if (slot == account->second.names.end()) return false;
  // Expiries are whole microseconds: e > now iff e > floor(now).
  const Expiry now_micros = absl::ToUnixMicros(now);
  if (slot->second != kSeveralHolders) return slot->second > now_micros;
  auto shared = account->second.shared_names.find(key);
  if (shared == account->second.shared_names.end()) return false;
  for (Expiry expiry : shared->second) {
    if (expiry > now_micros) return true;
  }
  return false;
}

uint64_t ActiveTokenIndex::CountActive(std::string_view organization_name,
                                       absl::Time now) {
  auto found = organizations_.find(AbslView(organization_name));
  if (found == organizations_.end()) return 0;
  Organization& organization = found->second;
  // Expired at now: expiry <= now, i.e. expiry <= floor(now) in micros.
  const Expiry now_micros = absl::ToUnixMicros(now);
  if (now_micros >= organization.watermark) {
    for (auto it = organization.expiries.upper_bound(organization.watermark);
         it != organization.expiries.end() && *it <= now_micros; ++it) {
      ++organization.expired;
    }
  } else {
    for (auto it = organization.expiries.upper_bound(now_micros);
         it != organization.expiries.end() &&
         *it <= organization.watermark;
         ++it) {
      --organization.expired;
    }
  }
  organization.watermark = now_micros;
  return organization.without_expiry + organization.expiries.size() -
         organization.expired;
}

}  // namespace keygate::store
